from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from swabline.people.enums import DeclarationSource, Sex
from swabline.people.models import Person
from swabline.people.services import PersonInput, register_person
from tests.otp import authenticator, code_for

pytestmark = pytest.mark.django_db


def form_data(ward_code, **member):
    data = {
        "m-TOTAL_FORMS": "1",
        "m-INITIAL_FORMS": "0",
        "m-MIN_NUM_FORMS": "1",
        "m-MAX_NUM_FORMS": "12",
        "m-0-full_name": "Phạm Văn Đồng",
        "m-0-birth": "1950",
        "m-0-sex": "M",
        "h-phone": "0912345678",
        "h-ward": ward_code,
        "h-address": "1 Lê Lợi",
    }
    data.update({f"m-0-{k}": v for k, v in member.items()})
    return data


def test_public_registration_redirects_to_signed_qr_page(client, world):
    response = client.post(reverse("register"), form_data(world.ward_a.code))
    assert response.status_code == 302
    person = Person.objects.get()
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert person.display_code in page.content.decode()
    assert person.source == DeclarationSource.SELF
    tampered = response["Location"].replace("done/", "done/x")
    assert client.get(tampered).status_code == 404


def test_public_registration_is_rate_limited(client, world, settings):
    settings.REGISTRATION_RATE_LIMIT = 2
    from django.core.cache import cache

    cache.clear()
    codes = [
        client.post(
            reverse("register"), form_data(world.ward_a.code, full_name=f"Người Thử {n}")
        ).status_code
        for n in ["A", "B", "C"]
    ]
    assert codes == [302, 302, 429]
    assert Person.objects.count() == 2


def test_ward_search_works_without_diacritics(client, world):
    body = client.get(reverse("register-wards"), {"q": "binh minh"}).content.decode()
    assert "Phường Bình Minh" in body
    assert "Phường Tân Ninh" not in body


def test_staff_registration_is_limited_to_their_ward(world):
    client = world.client_for("dataentry_a")
    assert client.post(reverse("people:new"), form_data(world.ward_a.code)).status_code == 302
    response = client.post(
        reverse("people:new"), form_data(world.ward_b.code, full_name="Ngô Thị Lan")
    )
    assert response.status_code == 200
    assert "Bạn chỉ được đăng ký người trong địa bàn của mình." in response.content.decode()
    assert list(Person.objects.values_list("ward", flat=True)) == [world.ward_a.pk]
    assert Person.objects.get().source == DeclarationSource.STAFF


@pytest.mark.parametrize("persona", ["labtech_a", "courier_a", "nobody"])
def test_staff_registration_refuses_other_roles(world, persona):
    assert world.client_for(persona).get(reverse("people:new")).status_code == 403


def _person(world, ward, **kw):
    data = {
        "full_name": "Đặng Thị Hoa",
        "birth": "01/02/1970",
        "sex": Sex.FEMALE,
        "ward": ward,
        "phone": "0912000111",
    }
    data.update(kw)
    return register_person(data=PersonInput(**data), by=None, source=DeclarationSource.STAFF).person


def test_search_by_name_code_phone_and_qr(world):
    from swabline.people.qr import encode_payload

    person = _person(world, world.ward_a, national_id="072170012345")
    _person(world, world.ward_b, full_name="Đặng Thị Hoa", phone="0912000222")
    client = world.client_for("ward_a")
    for query in ["dang thi hoa", "dang thi hoa 1970", person.display_code.lower(), "0912 000 111",
                  "072170012345", encode_payload(person)]:  # fmt: skip
        body = client.get(reverse("people:list"), {"q": query}).content.decode()
        assert re.findall(r'<li><a href="/people/([^/"]+)/">', body) == [person.public_id], query


def test_api_registration_search_get_and_merge(client, world):
    payload = {
        "members": [
            {"full_name": "Võ Thị Sáu", "birth": "1933", "sex": "F"},
            {"full_name": "Võ Văn Kiệt", "birth": "23/11/1922", "sex": "M", "phone": "0987654321"},
        ],
        "phone": "0912345678",
        "ward_code": world.ward_a.code,
    }
    response = client.post(
        "/api/v1/registrations", json.dumps(payload), content_type="application/json"
    )
    assert response.status_code == 201
    people = response.json()["people"]
    assert [p["full_name"] for p in people] == ["Võ Thị Sáu", "Võ Văn Kiệt"]
    assert people[0]["qr_payload"].startswith("SW1:")

    bad = dict(payload, members=[{"full_name": "X1", "birth": "1800", "sex": "F"}])
    response = client.post(
        "/api/v1/registrations", json.dumps(bad), content_type="application/json"
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"full_name", "birth"}

    token = client.post(
        "/api/v1/auth/token",
        json.dumps({"username": "ward_a", "password": "correct-horse-battery",
                    "otp": code_for(authenticator(world.users["ward_a"]))}),  # an official: second factor
        content_type="application/json",
    ).json()["token"]  # fmt: skip
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    found = client.get("/api/v1/people", {"q": "vo thi sau"}, **auth).json()
    assert [p["public_id"] for p in found] == [people[0]["public_id"]]
    assert (
        client.get(f"/api/v1/people/{people[1]['public_id']}", **auth).json()["phone"]
        == "+84987654321"
    )

    other_token = client.post(
        "/api/v1/auth/token",
        json.dumps({"username": "ward_b", "password": "correct-horse-battery",
                    "otp": code_for(authenticator(world.users["ward_b"]))}),
        content_type="application/json",
    ).json()["token"]  # fmt: skip
    other = {"HTTP_AUTHORIZATION": f"Bearer {other_token}"}
    assert client.get(f"/api/v1/people/{people[1]['public_id']}", **other).status_code == 404
    assert client.get("/api/v1/people", {"q": "vo thi sau"}, **other).json() == []
    lab = client.post(
        "/api/v1/auth/token", json.dumps({"username": "labtech_a", "password": "correct-horse-battery"}),
        content_type="application/json",
    ).json()["token"]  # fmt: skip
    assert client.get("/api/v1/people", HTTP_AUTHORIZATION=f"Bearer {lab}").status_code == 403

    dup = _person(world, world.ward_a, full_name="Võ Thị Sáu", birth="1933", phone="0933000111")
    merged = client.post(
        f"/api/v1/people/{people[0]['public_id']}/merge",
        json.dumps({"duplicate": dup.public_id, "reason": "same"}),
        content_type="application/json",
        **auth,
    )
    assert merged.status_code == 200
    assert Person.objects.get(pk=dup.pk).merged_into == Person.objects.get(
        public_id=people[0]["public_id"]
    )
    assert (
        client.post(
            f"/api/v1/people/{people[0]['public_id']}/merge",
            json.dumps({"duplicate": dup.public_id}),
            content_type="application/json",
            **other,
        ).status_code
        == 404
    )


def test_staff_list_shows_the_best_matches_first_and_says_when_there_are_more(world, monkeypatch):
    from swabline.people import views

    monkeypatch.setattr(views, "LIST_SIZE", 2)
    for name in ["Đỗ Thị Hoa", "Hoàng Thị Lan", "Hoa Thị Mai"]:
        _person(world, world.ward_a, full_name=name, phone="")
    _person(world, world.ward_b, full_name="Hoa Văn Bình", phone="")
    client = world.client_for("ward_a")
    body = client.get(reverse("people:list"), {"q": "hoa"}).content.decode()
    shown = re.findall(r'<li><a href="/people/[^/"]+/">([^<]+)</a>', body)
    assert shown == ["Hoa Thị Mai", "Hoàng Thị Lan"]
    assert 'data-testid="people-more"' in body
    body = client.get(reverse("people:list"), {"q": "thi hoa"}).content.decode()
    assert re.findall(r'<li><a href="/people/[^/"]+/">([^<]+)</a>', body) == ["Đỗ Thị Hoa"]
    assert 'data-testid="people-more"' not in body
