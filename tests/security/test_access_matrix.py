"""The access matrix: every URL of the URL conf and every operation of the API schema,
asked by every persona at A (and anonymous, a citizen holding a look-up grant for a
person at A, a user with no role) for the objects of B (another province: its ward,
campaign, site, lab, people, tubes, shipment, uploads, import, export).

A URL's parameters are filled from B's objects through `WEB_KWARGS` / `API_PARAMS`, by
URL namespace and parameter name; a new URL whose parameter has no entry fails
`test_every_url_parameter_has_a_value_at_b`, so new endpoints join the matrix by
themselves. A request for B's object must be refused (401/403/404/405, 400/422 for a
body it cannot read, or a redirect to the login page), must leave B as it was, and no
answer (lists included, asked with B's ids as filters) may carry B's identifying
values: texts, spreadsheets and PDFs are read for them. The positive side: every
page of B's objects opens (200) for some role at B, so the values are real."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import openpyxl
import pypdfium2
import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from swabline.api import PUBLIC_OPERATIONS, api
from tests.security.places import PERSONAS_A, PERSONAS_B, Matrix, fingerprint

Value = Callable[[Matrix], str]

# URL parameter → B's value, keyed by "namespace:parameter" (or "url-name:parameter"
# where one namespace uses a name for two kinds of object).
WEB_KWARGS: dict[str, Value] = {
    "places:code": lambda m: m.world.ward_c.code,
    "campaigns:public_id": lambda m: str(m.b.site.public_id),
    "labs:public_id": lambda m: str(m.world.lab_b.public_id),
    "labs:upload_id": lambda m: str(m.b.upload.public_id),
    "labs:code": lambda m: m.b.received_tube.code,
    "labs:campaign_id": lambda m: str(m.b.campaign.public_id),
    "shipping:public_id": lambda m: str(m.b.shipment.public_id),
    "results:public_id": lambda m: str(m.b.campaign.public_id),
    "people:public_id": lambda m: m.b.person.public_id,
    "people:import-detail:public_id": lambda m: str(m.b.people_import.public_id),
    "people:import-progress:public_id": lambda m: str(m.b.people_import.public_id),
    "people:import-commit:public_id": lambda m: str(m.b.people_import.public_id),
    "people:import-errors:public_id": lambda m: str(m.b.people_import.public_id),
    "people:request-detail:public_id": lambda m: str(m.b.erasure_request.public_id),
    "people:request-export:public_id": lambda m: str(m.b.access_request.public_id),
    "people:request-erase:public_id": lambda m: str(m.b.erasure_request.public_id),
    "lookup:public_id": lambda m: m.b.person.public_id,
    "notifications:public_id": lambda m: m.b.person.public_id,
    "certificates:outcome_id": lambda m: str(m.b.outcome.pk),
    "dashboard:public_id": lambda m: str(m.b.campaign.public_id),
    "dashboard:kind": lambda m: "open",
    "reports:campaign_id": lambda m: str(m.b.campaign.public_id),
    "reports:fmt": lambda m: "xlsx",
    # The admin is for superusers only: no persona at A may open any of it.
    "admin:object_id": lambda m: str(m.b.person.pk),
    "admin:url": lambda m: "people/person/",
    "admin:app_label": lambda m: "people",
    "admin:content_type_id": lambda m: "1",
    "admin:id": lambda m: str(m.world.users["official_c"].pk),
    "admin:pk": lambda m: "1",  # django-otp's device pages
}
API_PARAMS: dict[str, Value] = {
    "public_id": lambda m: m.b.person.public_id,
    "patient_id": lambda m: m.b.person.public_id.replace("_", "."),
    "code": lambda m: m.b.tube.code,
    "shipment_id": lambda m: str(m.b.shipment.public_id),
    "lab": lambda m: str(m.world.lab_b.public_id),
    "job_id": lambda m: str(m.b.export.public_id),
    "file_name": lambda m: "Patient.ndjson",
    "campaign": lambda m: str(m.b.campaign.public_id),
    "channel": lambda m: "sms",
}
# Filters that list pages read; asked with B's values (which the page may echo back).
QUERY: dict[str, Value] = {
    "campaign": lambda m: str(m.b.campaign.public_id),
    "site": lambda m: str(m.b.site.public_id),
    "lab": lambda m: str(m.world.lab_b.public_id),
    "place": lambda m: m.world.ward_c.code,
    "ward": lambda m: m.world.ward_c.code,
    "code": lambda m: m.b.tube.code,
    "patient": lambda m: m.b.person.public_id.replace("_", "."),
}
REFUSED = {400, 401, 403, 404, 405, 422}


def _form(query: dict[str, str]) -> dict[str, str]:
    """A form naming B's objects under the field names the app's forms use."""
    return query | {
        "h-ward": query["ward"], "ward_code": query["ward"], "shipment": query["code"],
        "codes": query["code"], "tube": query["code"], "person": query["patient"],
        "public_id": query["patient"], "duplicate": query["patient"], "mode": "valid_rows",
        "tubes": "3", "reason": "matrix", "note": "matrix",
    }  # fmt: skip


# Public URLs whose parameter is itself the capability (a registration's own token):
# holding it is the permission; people/test_views.py covers them.
CAPABILITY_URLS = {"register-done", "register-qr-png", "register-card-pdf"}
# Would end the persona's session half-way through the matrix.
SKIPPED = CAPABILITY_URLS | {"logout", "admin:logout"}
# Pages of B's objects that only answer POST (the positive side asks with GET).
POST_ONLY = {
    "labs:entry-tube", "labs:entry-save", "labs:entry-undo", "shipping:add-tube",
    "shipping:remove-tube", "shipping:hand-over", "shipping:cancel", "shipping:receipt-scan",
    "shipping:receipt-unscan", "shipping:receive", "shipping:reject", "people:import-commit",
    "people:merge", "lookup:unlock", "dashboard:thresholds", "people:request-erase",
}  # fmt: skip
PARAM = re.compile(r"<(?:(\w+):)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def _walk(patterns: list[Any], prefix: str = "", ns: str = "") -> Iterator[tuple[str, str, str]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            inner = f"{ns}{p.namespace}:" if p.namespace else ns
            yield from _walk(p.url_patterns, prefix + str(p.pattern), inner)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), (ns + p.name) if p.name else "", ns.rstrip(":")


ROUTES = [
    (route, name, ns)
    for route, name, ns in _walk(get_resolver().url_patterns)
    if ns != "api-v1" and name not in SKIPPED
]
SCHEMA = api.get_openapi_schema()
OPERATIONS = [
    (method, path)
    for path, methods in SCHEMA["paths"].items()
    for method in methods
    if ((method, path) not in PUBLIC_OPERATIONS or "{" not in path)
    # Revokes the caller's own token, which the rest of the matrix needs.
    and (method, path) != ("delete", "/api/v1/auth/token")
]


def _key(name: str, ns: str, param: str) -> str | None:
    ns = ns or "admin"  # the admin's unnamed object pages
    for key in (f"{name}:{param}", f"{ns}:{param}"):
        if key in WEB_KWARGS:
            return key
    return None


def _params(route: str) -> list[str]:
    return [m.group(2) or m.group(3) for m in PARAM.finditer(route)]


def _url(route: str, name: str, ns: str, m: Matrix) -> str:
    def fill(match: re.Match[str]) -> str:
        key = _key(name, ns, match.group(2) or match.group(3))
        assert key, (route, name)
        return WEB_KWARGS[key](m)

    url = PARAM.sub(fill, route)
    url = re.sub(r"\$$", "", url.replace("^", "")).replace("\\", "")
    return "/" + url.lstrip("/")


def _api_url(path: str, m: Matrix) -> str:
    return re.sub(r"\{(\w+)\}", lambda g: API_PARAMS[g.group(1)](m), path)


def _text(response: Any) -> str:
    """What a person would read in the answer: text, spreadsheet cells, PDF text."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    kind = response.get("Content-Type", "")
    if "spreadsheetml" in kind:
        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
        return "\n".join(
            str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
            for cell in row if cell is not None
        )  # fmt: skip
    if "pdf" in kind:
        document = pypdfium2.PdfDocument(body)
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    return body.decode("utf-8", "replace")


def _leaks(text: str, m: Matrix, sent: set[str]) -> list[str]:
    return [label for label, value in m.b.values.items() if value in text and value not in sent]


def _to_login(client: Client, response: Any) -> bool:
    location = response.get("Location", "")
    return response.status_code in (301, 302, 303) and "login" in location


def _web_problems(
    m: Matrix, persona: str, routes: list[tuple[str, str, str]] = ROUTES
) -> list[str]:
    client = m.client(persona)
    problems = []
    for route, name, ns in routes:
        url = _url(route, name, ns, m)
        has_b = bool(_params(route))
        # The page may echo what was asked (its own address, the filters): not a leak.
        sent = {v for v in m.b.values.values() if v in url}
        tries: list[tuple[str, str, dict[str, str]]] = [("get", url, {}), ("post", url, {})]
        query = {k: v(m) for k, v in QUERY.items()}
        if ns == "admin":
            # One gate (staff only) guards the whole admin: GET each page, no variants.
            tries = tries[:1]
        elif not has_b:
            # Lists filtered by B's ids, and forms posted naming B's objects.
            tries += [("get", f"{url}?{urlencode(query)}", {}), ("post", url, _form(query))]
        for method, target, data in tries:
            if "?" in target or data:
                sent = set(query.values())
            response = getattr(client, method)(target, data, HTTP_ACCEPT_LANGUAGE="en")
            status = response.status_code
            where = f"{persona} {method.upper()} {target} ({name or route})"
            if status >= 500:
                problems.append(f"{where}: {status}")
            elif has_b and not (status in REFUSED or _to_login(client, response)):
                problems.append(f"{where}: {status} for B's object")
            elif leaks := _leaks(_text(response), m, sent):
                problems.append(f"{where}: {status} shows B's {', '.join(leaks)}")
    if persona in m.world.users:
        # Still the same user at the end: nothing above logged the persona out.
        assert client.session.get("_auth_user_id") == str(m.world.users[persona].pk)
    return problems


def _api_problems(
    m: Matrix, persona: str, operations: list[tuple[str, str]] = OPERATIONS
) -> list[str]:
    client = Client()
    auth = m.token(persona)
    problems = []
    for method, path in operations:
        url = _api_url(path, m)
        has_b = "{" in path
        response = getattr(client, method)(url, data={}, content_type="application/json", **auth)
        status = response.status_code
        where = f"{persona} {method.upper()} {url}"
        if status >= 500:
            problems.append(f"{where}: {status}")
        elif has_b and status not in REFUSED:
            problems.append(f"{where}: {status} for B's object")
        elif leaks := _leaks(_text(response), m, {v for v in m.b.values.values() if v in url}):
            problems.append(f"{where}: {status} shows B's {', '.join(leaks)}")
    if auth:
        # Still the same token at the end: the refusals above were not a dead token's.
        assert client.get("/api/v1/auth/me", **auth).status_code == 200
    return problems


def test_every_url_parameter_has_a_value_at_b() -> None:
    """A new URL or API parameter must say which of B's objects it names."""
    missing = sorted(
        f"{name or route} <{param}>"
        for route, name, ns in ROUTES
        for param in _params(route)
        if _key(name, ns, param) is None
    )
    missing += sorted(
        f"{method.upper()} {path} {{{param}}}"
        for method, path in OPERATIONS
        for param in re.findall(r"\{(\w+)\}", path)
        if param not in API_PARAMS
    )
    assert missing == [], f"add these to WEB_KWARGS / API_PARAMS in {__file__}: {missing}"


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS_A)
def test_nobody_at_a_reaches_bs_objects(matrix: Matrix, persona: str) -> None:
    before = fingerprint(matrix.b)
    problems = _web_problems(matrix, persona) + _api_problems(matrix, persona)
    assert problems == [], "\n".join(problems)
    assert fingerprint(matrix.b) == before


@pytest.mark.django_db
def test_every_page_of_bs_objects_opens_for_a_role_at_b(matrix: Matrix) -> None:
    """The negative side is not empty: B's values name real objects that B's own
    staff open."""
    clients = {persona: matrix.client(persona) for persona in PERSONAS_B}
    closed = []
    for route, name, ns in ROUTES:
        if not _params(route) or name in POST_ONLY or ns == "admin" or not name:
            continue
        url = _url(route, name, ns, matrix)
        statuses = {p: c.get(url).status_code for p, c in clients.items()}
        if 200 not in statuses.values():
            closed.append(f"{name} {url}: {statuses}")
    assert closed == [], "\n".join(closed)


@pytest.mark.django_db
def test_every_api_operation_on_bs_objects_answers_a_role_at_b(matrix: Matrix) -> None:
    tokens = {persona: matrix.token(persona) for persona in PERSONAS_B}
    closed = []
    for method, path in OPERATIONS:
        if "{" not in path or method != "get":
            continue
        url = _api_url(path, matrix)
        statuses = {p: Client().get(url, **t).status_code for p, t in tokens.items()}
        if not {200, 202} & set(statuses.values()):
            closed.append(f"GET {url}: {statuses}")
    assert closed == [], "\n".join(closed)


@pytest.mark.django_db
def test_the_leak_check_reads_spreadsheets_and_pdfs(matrix: Matrix) -> None:
    """The body check finds a person's name in the app's own XLSX and PDF answers, so
    a leak through an export or a certificate would not go unseen."""
    name = matrix.person_a.full_name
    export = matrix.client("ward_a").get("/people/export.xlsx")
    assert "spreadsheetml" in export["Content-Type"] and name in _text(export)
    outcome = matrix.person_a.outcomes.get(current=True)
    pdf = matrix.client("citizen").get(f"/certificates/{outcome.pk}.pdf")
    assert pdf["Content-Type"] == "application/pdf" and name in _text(pdf)
    other = matrix.client("official_c").get(f"/certificates/{matrix.b.outcome.pk}.pdf")
    assert _leaks(_text(other), matrix, set()) == ["person name"]


@pytest.mark.django_db
def test_the_matrix_reports_someone_who_may_see_b(matrix: Matrix) -> None:
    """An administrator (everywhere) is what a leak looks like: the matrix must say so
    for B's pages, API operations and lists."""
    routes = [r for r in ROUTES if r[1] in ("people:detail", "people:list")]
    operations = [("get", "/api/v1/people/{public_id}")]
    problems = "\n".join(
        _web_problems(matrix, "admin", routes) + _api_problems(matrix, "admin", operations)
    )
    person = matrix.b.person.public_id
    assert f"admin GET /people/{person}/ (people:detail): 200 for B's object" in problems
    assert f"admin GET /api/v1/people/{person}: 200 for B's object" in problems
    assert "(people:list): 200 shows B's person name" in problems
