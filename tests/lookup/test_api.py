"""`POST /api/v1/lookup`: the page's rules over JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from swabline.lookup import session
from swabline.people.codes import code_check_char
from swabline.results.models import Outcome
from tests.lookup.helpers import BORN, person
from tests.results.helpers import released

pytestmark = pytest.mark.django_db
WRONG = dt.date(1961, 8, 16)


def call(identifier: str, born: dt.date = BORN, client: Client | None = None, **extra: Any) -> Any:
    body = {"identifier": identifier, "day": born.day, "month": born.month, "year": born.year}
    return (client or Client()).post(
        "/api/v1/lookup",
        {**body, **extra},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_success_returns_outcome_and_timeline(world):
    p = person(world, national_id="079061012377")
    released(world, "negative", [p])
    outcome = Outcome.objects.get(person=p, current=True)
    response = call("079 061 012 377")
    assert response.status_code == 200
    assert session.COOKIE in response.cookies
    assert response["Cache-Control"] == "no-store, private"
    data = response.json()
    assert data["found"] is True
    [found] = data["people"]
    assert (found["public_id"], found["code"], found["birth"]) == (
        p.public_id,
        p.display_code,
        "15/08/1961",
    )
    [campaign] = found["campaigns"]
    assert campaign["outcome"] == "negative"
    assert campaign["outcome_label"] == "Negative"
    assert campaign["certificate_url"] == f"/certificates/{outcome.pk}.pdf"
    assert [s["step"] for s in campaign["timeline"]] == [
        "registered",
        "sampled",
        "at_lab",
        "result",
    ]
    assert campaign["timeline"][1]["detail"].startswith(world.site_a.name)


def test_unknown_wrong_and_locked_are_one_answer(world, settings):
    settings.LOOKUP_MAX_FAILURES = 2
    p = person(world)
    nobody = "K7M3P9Q" + code_check_char("K7M3P9Q")
    answers = [
        call(p.code, WRONG),  # wrong date
        call(nobody),  # a valid code nobody has
        call("0912 000 099"),  # unknown phone
        call(p.code, dt.date(1961, 8, 17)),  # wrong date: the code is locked now
        call(p.code),  # right date on a locked code
    ]
    bodies = {(r.status_code, r.content) for r in answers}
    assert bodies == {(200, b'{"found": false, "people": []}')}
    assert all(session.COOKIE not in r.cookies for r in answers)


def test_form_errors_are_422_with_fields(world):
    response = call("12", WRONG)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "identifier"
    bad_date = Client().post(
        "/api/v1/lookup",
        {"identifier": "0912000001", "day": 31, "month": 2, "year": 1961},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert bad_date.status_code == 422
    assert bad_date.json()["errors"] == [{"field": "birth", "message": "This date does not exist."}]


def test_client_over_its_limit_gets_429(world, settings):
    settings.LOOKUP_CLIENT_MAX_FAILURES = 1
    call("0912000041", WRONG)
    response = call("0912000042", WRONG)
    assert response.status_code == 429
    assert "Too many tries" in response.json()["detail"]


def test_household_phone_in_the_api(world):
    phone = "+84912000051"
    head = person(world, phone=phone, birth_date=dt.date(1970, 1, 2), is_household_head=True)
    child = person(world, phone=phone, birth_date=dt.date(2012, 6, 1))
    released(world, "negative", [head, child])
    data = call("+84 912 000 051", dt.date(2012, 6, 1)).json()
    assert [p["public_id"] for p in data["people"]] == [child.public_id]
