"""The station API (/api/v1/station): contract, auth, scope, language."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.people import qr
from swabline.people.models import Person
from swabline.sampling.codes import display_name
from swabline.sampling.models import Sample, StationEvent, Tube
from tests.factories import UserFactory
from tests.sampling.factories import labels, people

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/station/events"


def bearer(world, name):
    _, raw = accounts.issue_token(user=world.users[name], name="station phone")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def post(client, url, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def batch(site, events, device="2f1c5a9e-0d4b-4c55-9a51-3f3e9a8b7c10"):
    return {"device_id": device, "site": str(site.public_id), "events": events}


def ev(type_, tube, seq, **fields):
    at = fields.pop("at", timezone.now().isoformat())
    return {"id": str(uuid.uuid4()), "type": type_, "at": at, "tube": tube, "seq": seq, **fields}


def test_a_batch_of_events_answers_each_fate(client, world):
    [code] = labels(world)
    a, b = people(world, 2)
    events = [
        ev("open_tube", code, 1, kind="pool"),
        ev("add_person", code, 2, scan=qr.encode_payload(a)),
        ev("add_person", code, 3, person=b.public_id),
        ev("add_person", code, 4, scan=qr.encode_payload(a)),
        ev("add_person", "999999999999", 5, scan=qr.encode_payload(b)),
    ]
    response = post(
        client,
        EVENTS,
        batch(world.site_a, events),
        HTTP_ACCEPT_LANGUAGE="en",
        **bearer(world, "sampler_a"),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results", "server_time"}
    results = body["results"]
    display_a = display_name(a.full_name)
    assert results[0] == {
        "id": events[0]["id"], "fate": "applied", "reason": "", "message": f"Tube {code} opened: 0/10.",
        "person": None, "tube": {"code": code, "count": 0, "limit": 10, "status": "open"},
        "first_fate": None, "first_reason": None,
    }  # fmt: skip
    assert results[1] == {
        "id": events[1]["id"], "fate": "applied", "reason": "",
        "message": f"{display_a}, 1980 — 1/10.",
        "person": {"public_id": a.public_id, "display": display_a, "birth_year": 1980},
        "tube": {"code": code, "count": 1, "limit": 10, "status": "open"},
        "first_fate": None, "first_reason": None,
    }  # fmt: skip
    assert [(r["fate"], r["reason"]) for r in results[2:]] == [
        ("applied", ""),
        ("duplicate", "already_in_tube"),
        ("conflict", "tube_unknown"),
    ]
    assert results[4]["message"] == "Tube 999999999999 has not been opened."

    again = post(client, EVENTS, batch(world.site_a, events[:2]), **bearer(world, "sampler_a"))
    assert [(r["fate"], r["reason"], r["first_fate"]) for r in again.json()["results"]] == [
        ("duplicate", "replayed", "applied"),
        ("duplicate", "replayed", "applied"),
    ]
    assert Sample.objects.count() == 2


def test_the_station_web_app_uses_its_session_with_csrf(world):
    [code] = labels(world)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["sampler_a"])
    body = batch(world.site_a, [ev("open_tube", code, 1)])
    assert post(client, EVENTS, body).status_code == 403  # no CSRF token
    token = _get_new_csrf_string()  # the station page sets this cookie
    client.cookies["csrftoken"] = token
    response = post(client, EVENTS, body, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert response.json()["results"][0]["fate"] == "applied"


def test_a_sampler_cannot_capture_at_another_site_through_the_api(client, world):
    [code] = labels(world, site=world.site_b)
    body = batch(world.site_b, [ev("open_tube", code, 1)])
    response = post(client, EVENTS, body, HTTP_ACCEPT_LANGUAGE="en", **bearer(world, "sampler_a"))
    assert response.status_code == 403
    assert response.json() == {"detail": "You are not assigned to capture samples at this site."}
    assert not Tube.objects.exists() and not StationEvent.objects.exists()
    official = post(
        client, EVENTS, batch(world.site_a, [ev("open_tube", code, 1)]), **bearer(world, "ward_a")
    )
    assert official.status_code == 403
    unknown = batch(world.site_a, [])
    unknown["site"] = str(uuid.uuid4())
    assert post(client, EVENTS, unknown, **bearer(world, "sampler_a")).status_code == 404


def test_anonymous_callers_are_refused(client, world):
    assert post(client, EVENTS, batch(world.site_a, [])).status_code == 401
    assert client.get("/api/v1/station/sites").status_code == 401


def test_malformed_batches_are_refused_whole(client, world):
    token = bearer(world, "sampler_a")
    too_many = [ev("close_tube", "123", i) for i in range(1001)]
    assert post(client, EVENTS, batch(world.site_a, too_many), **token).status_code == 422
    wrong = [ev("teleport", "123", 1)]
    assert post(client, EVENTS, batch(world.site_a, wrong), **token).status_code == 422
    no_time = [ev("close_tube", "123", 1, at="yesterday")]
    assert post(client, EVENTS, batch(world.site_a, no_time), **token).status_code == 422


def test_messages_follow_the_callers_language(client, world):
    [code] = labels(world)
    future = (timezone.now() + dt.timedelta(days=3)).isoformat()
    events = [ev("open_tube", code, 1, at=future)]
    english = post(
        client,
        EVENTS,
        batch(world.site_a, events),
        HTTP_ACCEPT_LANGUAGE="en",
        **bearer(world, "sampler_a"),
    )
    [result] = english.json()["results"]
    assert (result["fate"], result["reason"]) == ("conflict", "clock")
    assert result["message"].startswith("This device's clock looks wrong")


def test_quick_registration_is_idempotent(client, world):
    token = bearer(world, "sampler_a")
    body = {
        "id": str(uuid.uuid4()), "site": str(world.site_a.public_id), "device_id": "d1",
        "full_name": "trần văn  đức", "birth": "02/09/1955", "sex": "M", "phone": "0912345678",
    }  # fmt: skip
    first = post(client, "/api/v1/station/people", body, **token)
    assert first.status_code == 200, first.content
    data = first.json()
    assert data["display"] == "Trần V. Đ." and data["birth_year"] == 1955 and data["created"]
    decoded = qr.decode_payload(data["qr_payload"])
    assert decoded is not None and decoded.initials == "TVD" and decoded.birth_year == 1955
    assert Person.objects.get(public_id=data["public_id"]).qr_token == decoded.token
    again = post(client, "/api/v1/station/people", body, **token).json()
    assert again == {**data, "created": False}
    # the new person can be scanned at once
    [code] = labels(world)
    events = [ev("open_tube", code, 1), ev("add_person", code, 2, scan=data["qr_payload"])]
    results = post(client, EVENTS, batch(world.site_a, events), **token).json()["results"]
    assert results[1]["person"]["public_id"] == data["public_id"]


def test_quick_registration_reports_field_errors_and_scope(client, world):
    token = bearer(world, "sampler_a")
    body = {"id": str(uuid.uuid4()), "site": str(world.site_a.public_id), "full_name": "",
            "birth": "31/02/1990", "sex": "F"}  # fmt: skip
    response = post(client, "/api/v1/station/people", body, HTTP_ACCEPT_LANGUAGE="en", **token)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"full_name", "birth"}
    elsewhere = {**body, "full_name": "Lê A", "birth": "1990", "site": str(world.site_b.public_id)}
    assert post(client, "/api/v1/station/people", elsewhere, **token).status_code == 403


def test_sites_are_those_the_user_captures_at(client, world):
    sites = client.get("/api/v1/station/sites", **bearer(world, "sampler_a")).json()
    assert sites == [
        {
            "public_id": str(world.site_a.public_id),
            "name": "Điểm A",
            "address": world.site_a.address,
            "ward": {"code": world.ward_a.code, "name": "Phường Tân Ninh"},
            "campaign": {
                "public_id": str(world.campaign.public_id),
                "name": world.campaign.name,
                "test_type": "rt_pcr_pooled",
                "pooled": True,
            },
            "pool_limit": 10,
        }
    ]
    assert len(client.get("/api/v1/station/sites", **bearer(world, "admin")).json()) == 2
    assert client.get("/api/v1/station/sites", **bearer(world, "ward_a")).json() == []


def test_a_tube_is_visible_to_its_site_and_ward_only(client, world):
    [code] = labels(world)
    [person] = people(world, 1)
    token = bearer(world, "sampler_a")
    events = [ev("open_tube", code, 1), ev("add_person", code, 2, scan=qr.encode_payload(person))]
    post(client, EVENTS, batch(world.site_a, events), **token)
    response = client.get(f"/api/v1/station/tubes/{code[:4]} {code[4:]}", **token)
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["status"], body["count"], body["limit"]) == (code, "open", 1, 10)
    assert body["site"] == str(world.site_a.public_id)
    assert [(m["position"], m["public_id"], m["kind"]) for m in body["members"]] == [
        (1, person.public_id, "normal")
    ]
    assert client.get(f"/api/v1/station/tubes/{code}", **bearer(world, "ward_a")).status_code == 200
    other = UserFactory.create(username="sampler_b")
    accounts.assign(user=other, role=Role.SAMPLER, by=None, site=world.site_b)
    assert client.get(f"/api/v1/station/tubes/{code}", **bearer(world, "ward_b")).status_code == 404
    world.users["sampler_b"] = other
    assert (
        client.get(f"/api/v1/station/tubes/{code}", **bearer(world, "sampler_b")).status_code == 404
    )
    assert client.get("/api/v1/station/tubes/000000000000", **token).status_code == 404
