"""API tokens carry scopes: each router names the scopes that open it, a token
without one gets 403, a read-only token may only read, and nobody gets a scope
their roles do not give."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from swabline.accounts import services
from swabline.accounts.auth import TokenAuth
from swabline.accounts.enums import ApiScope, Role
from swabline.accounts.models import ApiToken
from swabline.api import PUBLIC_OPERATIONS, ROUTER_SCOPES, api
from tests.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EN: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _bearer(raw: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}", **EN}


def _operations():
    """(method, path, auth callbacks) for every operation of the API."""
    for bound in api._get_bound_routers():
        prefix = bound.prefix
        for route, path_view in bound.path_operations.items():
            for op in path_view.operations:
                for method in op.methods:
                    yield method.lower(), f"/api/v1{prefix}{route}", op, prefix


def test_every_router_declares_its_scopes():
    mounted = {prefix for prefix, _ in api._routers}
    assert mounted == set(ROUTER_SCOPES)
    for method, path, op, prefix in _operations():
        if op.auth_callbacks == []:
            assert (method, path.rstrip("/")) in PUBLIC_OPERATIONS, path
            continue
        token_auths = [a for a in op.auth_callbacks if isinstance(a, TokenAuth)]
        assert len(token_auths) == 1, path
        if prefix != "/auth":
            assert token_auths[0].scopes, f"{method} {path} opens to any token"
            assert token_auths[0].scopes == frozenset(ROUTER_SCOPES[prefix])


def test_a_token_without_the_scope_gets_403(world):
    _, raw = services.issue_token(user=world.users["admin"], name="t", scopes=["lab"])
    client = Client()
    assert client.get("/api/v1/labs", **_bearer(raw)).status_code == 200
    refused = client.get("/api/v1/station/sites", **_bearer(raw))
    assert refused.status_code == 403
    assert refused.json() == {"detail": "This token's scopes do not allow this operation."}
    assert client.get("/api/v1/fhir/DiagnosticReport", **_bearer(raw)).status_code == 403
    assert client.get("/api/v1/dashboard/progress", **_bearer(raw)).status_code == 403
    # /me and revoking need no scope.
    me = client.get("/api/v1/auth/me", **_bearer(raw))
    assert me.json()["scopes"] == ["lab"]


def test_a_read_only_token_may_only_read(world):
    lab = world.lab_a.public_id
    _, raw = services.issue_token(
        user=world.users["labtech_a"], name="wall screen", scopes=["lab", "read_only"]
    )
    client = Client()
    assert client.get(f"/api/v1/labs/{lab}/worklist", **_bearer(raw)).status_code == 200
    write = client.post(
        f"/api/v1/labs/{lab}/results", "{}", content_type="application/json", **_bearer(raw)
    )
    assert write.status_code == 403
    assert write.json() == {"detail": "This token may only read."}
    # It may still revoke itself.
    assert client.delete("/api/v1/auth/token", **_bearer(raw)).json() == {"revoked": True}


def test_the_same_write_with_a_full_token_reaches_the_view(world):
    lab = world.lab_a.public_id
    _, raw = services.issue_token(user=world.users["labtech_a"], name="bench")
    response = Client().post(
        f"/api/v1/labs/{lab}/results", "{}", content_type="application/json", **_bearer(raw)
    )
    assert response.status_code == 422  # past auth, refused by the schema


def test_default_scopes_follow_the_roles(world):
    expected = {
        "admin": ["lab", "partner", "reports", "station"],
        "province": ["reports"],
        "sampler_a": ["station"],
        "dataentry_a": ["reports", "station"],
        "courier_a": ["station"],
        "labtech_a": ["lab"],
        "labsupervisor_a": ["lab"],
        "nobody": [],
    }
    got = {
        name: services.issue_token(user=world.users[name], name="t")[0].scopes for name in expected
    }
    assert got == expected


def test_a_scope_the_roles_do_not_give_is_refused(client, world):
    response = client.post(
        "/api/v1/auth/token",
        json.dumps({"username": "labtech_a", "password": PASSWORD, "scopes": ["lab", "partner"]}),
        content_type="application/json",
        **EN,
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Your roles do not allow these scopes: partner"}
    assert not ApiToken.objects.exists()
    bad = client.post(
        "/api/v1/auth/token",
        json.dumps({"username": "labtech_a", "password": PASSWORD, "scopes": ["root"]}),
        content_type="application/json",
    )
    assert bad.status_code == 422


def test_a_token_asked_with_scopes_carries_exactly_them(client, world):
    response = client.post(
        "/api/v1/auth/token",
        json.dumps(
            {"username": "sampler_a", "password": PASSWORD, "scopes": ["read_only", "station"]}
        ),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["scopes"] == ["read_only", "station"]
    assert ApiToken.objects.get().scopes == [ApiScope.READ_ONLY, ApiScope.STATION]


def test_a_wrong_place_is_still_refused_with_the_right_scope(world):
    """Scopes narrow a token; the user's role and places still decide."""
    _, raw = services.issue_token(user=world.users["labtech_b"], name="t", scopes=["lab"])
    response = Client().get(f"/api/v1/labs/{world.lab_a.public_id}/worklist", **_bearer(raw))
    assert response.status_code == 404


def test_a_registration_with_a_token_needs_the_station_or_partner_scope(world):
    """POST /registrations is public, but a token sent with it (a partner app's, to
    lift the rate limit) is held to its scopes too."""
    partner = UserFactory.create(username="partner_app")
    services.assign(user=partner, role=Role.PARTNER, by=None)
    payload = json.dumps(
        {
            "members": [{"full_name": "Võ Thị Sáu", "birth": "1933", "sex": "F"}],
            "phone": "0912345678",
            "ward_code": world.ward_a.code,
        }
    )

    def register(raw: str):
        return Client().post(
            "/api/v1/registrations", payload, content_type="application/json", **_bearer(raw)
        )

    _, full = services.issue_token(user=partner, name="app")
    assert register(full).status_code == 201
    _, read_only = services.issue_token(
        user=partner, name="ro", scopes=[ApiScope.PARTNER, ApiScope.READ_ONLY]
    )
    assert register(read_only).json() == {"detail": "This token may only read."}
    _, lab_only = services.issue_token(user=world.users["admin"], name="lab", scopes=["lab"])
    refused = register(lab_only)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "This token's scopes do not allow this operation."}
