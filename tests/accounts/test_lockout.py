"""Login lock-out (django-axes): per username and client address, on the web form
and on the token endpoint alike, with a translated page and a cool-off."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

EN: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def _three_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def _form(username: str, password: str, ip: str = "10.0.0.1", **extra: Any):
    return Client().post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        **extra,
    )


def _token(username: str, password: str, ip: str = "10.0.0.1", **extra: Any):
    return Client().post(
        "/api/v1/auth/token",
        json.dumps({"username": username, "password": password}),
        content_type="application/json",
        REMOTE_ADDR=ip,
        **extra,
    )


def test_the_form_locks_after_the_limit_even_for_the_right_password(world):
    for _ in range(2):
        assert _form("sampler_a", "wrong").status_code == 200  # the form again, with its error
    locked = _form("sampler_a", "wrong", **EN)
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    body = locked.content.decode()
    assert "Too many wrong passwords for this account from this device." in body
    assert "Try again in 15 minutes" in body
    assert "sampler_a" not in body and "10.0.0.1" not in body
    # Locked: the right password does not open it either.
    right = _form("sampler_a", PASSWORD)
    assert right.status_code == 429
    assert 'data-testid="locked-out"' in right.content.decode()


def test_the_lock_is_per_username_and_address(world):
    for _ in range(3):
        _form("sampler_a", "wrong", ip="10.0.0.1")
    assert _form("sampler_a", PASSWORD, ip="10.0.0.2").status_code == 302
    assert _form("courier_a", PASSWORD, ip="10.0.0.1").status_code == 302
    assert _form("sampler_a", PASSWORD, ip="10.0.0.1").status_code == 429


def test_the_token_endpoint_counts_and_locks_too(world):
    assert _token("labtech_a", "wrong").status_code == 401
    _form("labtech_a", "wrong")  # the form and the API share one count
    locked = _token("labtech_a", "wrong", **EN)
    assert locked.status_code == 429
    assert locked.json() == {
        "detail": "Too many wrong passwords for this account from this device. "
        "Try again in 15 minutes, or ask an administrator."
    }
    assert _token("labtech_a", PASSWORD).status_code == 429


def test_the_cool_off_ends_the_lock(world):
    for _ in range(3):
        _form("sampler_a", "wrong")
    assert _form("sampler_a", PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    assert _form("sampler_a", PASSWORD).status_code == 302


def test_a_success_clears_the_count(world):
    for _ in range(2):
        _form("sampler_a", "wrong")
    assert _form("sampler_a", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.exists()
    for _ in range(2):
        assert _form("sampler_a", "wrong").status_code == 200


def test_nothing_about_the_password_is_stored(world):
    _form("sampler_a", "my-secret-guess")
    attempt = AccessAttempt.objects.get()
    assert "my-secret-guess" not in attempt.post_data
