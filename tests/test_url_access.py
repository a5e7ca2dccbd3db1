"""Every URL in the URL conf refuses an anonymous user unless it is on the explicit
public list; and every public URL really answers without a login."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from swabline.api import PUBLIC_OPERATIONS, api
from swabline.urls import PUBLIC_URL_NAMES

SAMPLE_ARGS = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "slug": "x", "path": "x"}


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), (namespace + p.name) if p.name else None, p


def _concrete(route: str) -> str:
    """Turn a route or regex into a URL with sample values for its parameters."""
    import re

    url = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_ARGS.get(m.group(1) or "str", "x"), route)
    # Admin regex patterns: fill groups and strip anchors.
    url = re.sub(r"\(\?P<\w+>[^)]*\)", "x", url)
    # Only regex anchors: a `$` inside an API path is FHIR's operation prefix.
    url = re.sub(r"\$$", "", url.replace("^", "")).replace("\\", "")
    return "/" + url.lstrip("/")


# API operations are checked from the schema below; the docs pages stay here.
ALL_URLS = [
    (route, name, p)
    for route, name, p in _walk(get_resolver().url_patterns)
    if not (name or "").startswith("api-v1:") or name in PUBLIC_URL_NAMES
]
SCHEMA = api.get_openapi_schema()
OPERATIONS = [
    (method, path, operation)
    for path, methods in SCHEMA["paths"].items()
    for method, operation in methods.items()
]


def test_public_names_exist():
    names = {name for _, name, _ in ALL_URLS if name}
    assert names >= PUBLIC_URL_NAMES, PUBLIC_URL_NAMES - names


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("route", "name"), [(r, n) for r, n, _ in ALL_URLS if n not in PUBLIC_URL_NAMES]
)
def test_private_url_refuses_anonymous(client, route, name):
    url = _concrete(route)
    for method in ("get", "post", "delete"):
        response = getattr(client, method)(url)
        assert response.status_code < 500, (url, method)
        if response.status_code in (302, 301):
            final = client.get(response["Location"], follow=True)
            assert "login" in final.request["PATH_INFO"], (url, method, response["Location"])
        else:
            assert response.status_code in (401, 403, 404, 405), (url, method, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_api_operation_refuses_anonymous_unless_public(client, method, path, operation):
    url = _concrete(path.replace("{", "<").replace("}", ">"))
    response = getattr(client, method)(url, content_type="application/json")
    if (method, path) in PUBLIC_OPERATIONS:
        assert "security" not in operation
        assert response.status_code not in (401, 403)
    else:
        assert operation.get("security"), "a private operation must declare its auth"
        assert response.status_code == 401, response.content


def test_public_operations_exist():
    assert {(m, p) for m, p, _ in OPERATIONS} >= PUBLIC_OPERATIONS


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method", "expected"),
    [
        ("healthz", "get", 200),
        ("login", "get", 200),
        ("admin:login", "get", 200),
        ("api-v1:openapi-json", "get", 200),
        ("api-v1:openapi-view", "get", 200),
        ("api-v1:search_places", "get", 200),
        ("api-v1:create_token", "post", 422),
    ],
)
def test_public_url_answers_anonymous(client, name, method, expected):
    response = getattr(client, method)(reverse(name), content_type="application/json")
    assert response.status_code == expected
