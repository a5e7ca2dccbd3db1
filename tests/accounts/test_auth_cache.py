"""Bearer tokens, their users and grants are kept per server process for
API_AUTH_CACHE_SECONDS (accounts/auth.py): a change made in this process takes effect
at once, a change made elsewhere (another server process: here, raw SQL that no
signal sees) within the cache time, and access is checked on every request."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.accounts.models import ApiToken, Assignment
from tests.sampling.factories import labels

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me"
TTL = 0.3


@pytest.fixture(autouse=True)
def short_cache(settings):
    settings.API_AUTH_CACHE_SECONDS = TTL


def bearer(world, name="sampler_a"):
    token, raw = accounts.issue_token(user=world.users[name], name="station phone")
    return token, {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def open_tube(client, world, auth):
    [code] = labels(world)
    event = {"id": str(uuid.uuid4()), "type": "open_tube", "at": timezone.now().isoformat(),
             "tube": code}  # fmt: skip
    body = {"device_id": "d1", "site": str(world.site_a.public_id), "events": [event]}
    return client.post(
        "/api/v1/station/events", json.dumps(body), content_type="application/json", **auth
    )


def raw_sql(sql, params):
    """A change made by another server process: this one's signals do not see it."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_known_token_costs_no_query_while_cached(client, world):
    _, auth = bearer(world)
    assert client.get(ME, **auth).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ME, **auth).status_code == 200
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "accounts_apitoken" not in tables and "accounts_assignment" not in tables


def test_revoked_here_is_refused_at_once(client, world):
    token, auth = bearer(world)
    assert client.get(ME, **auth).status_code == 200
    accounts.revoke_token(token=token, by=world.users["sampler_a"])
    assert client.get(ME, **auth).status_code == 401


def test_revoked_elsewhere_is_refused_within_the_cache_time(client, world):
    token, auth = bearer(world)
    assert client.get(ME, **auth).status_code == 200
    raw_sql(
        "UPDATE accounts_apitoken SET revoked_at = %s WHERE id = %s", [timezone.now(), token.pk]
    )
    assert client.get(ME, **auth).status_code == 200  # still cached here
    time.sleep(TTL + 0.05)
    assert client.get(ME, **auth).status_code == 401


def test_expiry_is_checked_on_every_request(client, world, settings):
    settings.API_AUTH_CACHE_SECONDS = 60
    token, auth = bearer(world)
    # Load the URL conf and the API first (an anonymous call caches no token): run
    # alone on a busy machine, the first request took longer than the token's life.
    assert client.get(ME).status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() + dt.timedelta(seconds=0.5)
    )
    assert client.get(ME, **auth).status_code == 200  # cached, with its expiry
    time.sleep(0.55)
    assert client.get(ME, **auth).status_code == 401


def test_deactivated_user_is_refused_at_once(client, world):
    _, auth = bearer(world)
    assert client.get(ME, **auth).status_code == 200
    user = world.users["sampler_a"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get(ME, **auth).status_code == 401


def test_an_assignment_removed_here_stops_capture_at_once(client, world):
    _, auth = bearer(world)
    assert open_tube(client, world, auth).status_code == 200
    Assignment.objects.filter(user=world.users["sampler_a"], role=Role.SAMPLER).delete()
    assert open_tube(client, world, auth).status_code == 403


def test_an_assignment_removed_elsewhere_stops_capture_within_the_cache_time(client, world):
    _, auth = bearer(world)
    assert open_tube(client, world, auth).status_code == 200
    raw_sql(
        "DELETE FROM accounts_assignment WHERE user_id = %s AND role = %s",
        [world.users["sampler_a"].pk, Role.SAMPLER.value],
    )
    assert open_tube(client, world, auth).status_code == 200  # still cached here
    time.sleep(TTL + 0.05)
    assert open_tube(client, world, auth).status_code == 403


def test_a_sampler_is_refused_at_a_site_not_theirs_even_when_cached(client, world):
    _, auth = bearer(world)
    assert client.get(ME, **auth).status_code == 200  # cached now
    event = {"id": str(uuid.uuid4()), "type": "open_tube", "at": timezone.now().isoformat(),
             "tube": labels(world, site=world.site_b)[0]}  # fmt: skip
    body = {"device_id": "d1", "site": str(world.site_b.public_id), "events": [event]}
    response = client.post(
        "/api/v1/station/events", json.dumps(body), content_type="application/json", **auth
    )
    assert response.status_code == 403


def test_each_request_gets_its_own_user(client, world):
    from swabline.accounts.auth import user_for_token

    _, raw = accounts.issue_token(user=world.users["sampler_a"], name="x")
    first, second = user_for_token(raw), user_for_token(raw)
    assert first is not None and second is not None
    assert first is not second and first.pk == second.pk
    first.first_name = "changed"
    assert second.first_name != "changed"
