"""Sessions end after SESSION_IDLE_SECONDS without a request (on top of the absolute
SESSION_COOKIE_AGE), and passwords follow the policy."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from swabline.accounts.middleware import LAST_SEEN_KEY
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _age_session(client: Client, seconds: int) -> None:
    session = client.session
    session[LAST_SEEN_KEY] -= seconds
    session.save()


def test_an_idle_session_ends_and_the_next_page_asks_to_log_in(world, settings):
    settings.SESSION_IDLE_SECONDS = 1800
    client = world.client_for("ward_a")
    assert client.get("/people/").status_code == 200
    _age_session(client, 1801)
    response = client.get("/people/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/people/"
    assert SESSION_KEY not in client.session


def test_activity_keeps_the_session_alive(world, settings):
    settings.SESSION_IDLE_SECONDS = 1800
    client = world.client_for("ward_a")
    client.get("/people/")
    _age_session(client, 1700)
    assert client.get("/people/").status_code == 200  # touched: the clock restarts
    _age_session(client, 1700)
    assert client.get("/people/").status_code == 200


def test_the_last_seen_time_is_written_at_most_once_a_minute(world, settings):
    client = world.client_for("sampler_a")
    client.get("/sites/")
    _age_session(client, settings.SESSION_IDLE_TOUCH_SECONDS - 5)
    aged = client.session[LAST_SEEN_KEY]
    client.get("/sites/")
    assert client.session[LAST_SEEN_KEY] == aged  # recent enough: not written
    _age_session(client, 10)
    client.get("/sites/")
    assert client.session[LAST_SEEN_KEY] >= aged + 10 + 5  # a minute old: written


def test_an_idle_station_session_gets_401_from_the_api(world, settings):
    client = world.client_for("sampler_a")
    assert client.get("/api/v1/station/sites").status_code == 200
    _age_session(client, settings.SESSION_IDLE_SECONDS + 1)
    assert client.get("/api/v1/station/sites").status_code == 401


def test_the_absolute_age_still_applies(settings):
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    assert settings.SESSION_IDLE_SECONDS == 30 * 60


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short-1", "This password is too short. It must contain at least 10 characters."),
        ("password123", "This password is too common."),
        ("4829137650", "This password is entirely numeric."),
        ("tran.thi.mai", "The password is too similar to the username."),
    ],
)
def test_the_password_policy_refuses(world, password, problem):
    user = world.users["ward_a"]
    user.username = "tran.thi.mai"
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        validate_password(password, user)
    assert problem in caught.value.messages


def test_a_good_password_passes(world):
    validate_password(PASSWORD, world.users["ward_a"])  # raises if refused
