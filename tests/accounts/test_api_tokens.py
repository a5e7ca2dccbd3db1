from __future__ import annotations

import json

import pytest

from swabline.accounts.models import ApiToken
from swabline.audit.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token"


def _post(client, payload):
    return client.post(TOKEN_URL, json.dumps(payload), content_type="application/json")


def test_token_round_trip_and_revocation(client, world):
    response = _post(
        client, {"username": "labtech_a", "password": PASSWORD, "name": "bench scanner"}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert token.startswith("swl_")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    me = client.get("/api/v1/auth/me", **auth)
    assert me.status_code == 200
    assert me.json()["username"] == "labtech_a"
    assert [g["role"] for g in me.json()["roles"]] == ["lab_technician"]
    assert "enter_results" in me.json()["permissions"]
    assert "release_results" not in me.json()["permissions"]

    assert client.delete(TOKEN_URL, **auth).json() == {"revoked": True}
    assert client.get("/api/v1/auth/me", **auth).status_code == 401
    stored = ApiToken.objects.get()
    assert stored.revoked_at is not None
    assert token not in stored.key_hash  # only the hash is kept
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "assignment.created",
    ] * 10 + ["token.issued", "token.revoked"]


def test_wrong_password_is_401_and_translated(client, world):
    response = _post(client, {"username": "labtech_a", "password": "nope"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Sai tên đăng nhập hoặc mật khẩu."}
    response = client.post(
        TOKEN_URL,
        json.dumps({"username": "labtech_a", "password": "nope"}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.json() == {"detail": "Wrong username or password."}


def test_missing_fields_give_field_errors(client, world):
    response = _post(client, {"username": "labtech_a"})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "Yêu cầu không hợp lệ."
    assert [e["loc"][-1] for e in body["errors"]] == ["password"]


def test_unknown_or_garbage_token_is_401(client, world):
    assert client.get("/api/v1/auth/me", HTTP_AUTHORIZATION="Bearer swl_nothing").status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401


def test_expired_token_is_refused(client, world):
    from django.utils import timezone

    token = _post(client, {"username": "labtech_a", "password": PASSWORD}).json()["token"]
    ApiToken.objects.update(expires_at=timezone.now())
    assert client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_the_admin_revokes_through_the_service(client, world):
    from swabline.accounts import services

    token, raw = services.issue_token(user=world.users["labtech_a"], name="bench")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/v1/auth/me", **auth).status_code == 200  # now cached
    admin = world.client_for("admin")
    response = admin.post(
        "/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [str(token.pk)]}
    )
    assert response.status_code == 302
    assert client.get("/api/v1/auth/me", **auth).status_code == 401  # refused at once
    event = AuditEvent.objects.get(action="token.revoked")
    assert event.actor_id == world.users["admin"].pk


def test_a_non_admin_cannot_open_the_token_admin(world):
    assert world.client_for("province").get("/admin/accounts/apitoken/").status_code == 302
