"""The staff screen for people's data requests: record (reason required, once per
form), access export as JSON, erasure confirmed by the code; scoped and audited."""

from __future__ import annotations

import json
import uuid
from html import unescape

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation

from swabline.audit.models import AuditEvent
from swabline.people import data_requests
from swabline.people.enums import DataRequestKind, DataRequestStatus
from swabline.people.models import DataRequest, Person
from swabline.people.retention import PSEUDONYM
from swabline.results.models import Outcome
from tests.notifications.helpers import notified

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def person(world) -> Person:
    [p] = notified(world, "negative", count=1, email="ha@example.org")
    return p


def record(world, person, kind=DataRequestKind.ERASURE, who="ward_a", **kw) -> DataRequest:
    kw.setdefault("reason", "letter 12/2026")
    kw.setdefault("client_id", uuid.uuid4())
    return data_requests.record_request(by=world.users[who], person=person, kind=kind, **kw)


def form(kind="erasure", reason="letter 12/2026", client_id=None):
    return {"kind": kind, "reason": reason, "client_id": str(client_id or uuid.uuid4())}


def test_staff_record_a_request_once_per_form_and_it_is_audited(world, person):
    client = world.client_for("ward_a")
    url = reverse("people:request-new", args=[person.public_id])
    assert person.full_name in client.get(url, **EN).content.decode()
    sent = form(reason="  letter   12/2026 ")
    first = client.post(url, sent, **EN)
    again = client.post(url, sent, **EN)
    [request] = DataRequest.objects.all()
    detail = reverse("people:request-detail", args=[request.public_id])
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"] == detail
    assert (request.kind, request.status, request.reason) == ("erasure", "open", "letter 12/2026")
    assert request.requested_by == world.users["ward_a"]
    assert request.province_code == person.province_code
    [event] = AuditEvent.objects.filter(action="people.data_request_recorded")
    assert (event.subject_id, event.actor_id) == (str(person.pk), world.users["ward_a"].pk)
    assert event.data == {"request": str(request.public_id), "kind": "erasure"}
    listed = client.get(reverse("people:requests"), **EN).content.decode()
    assert detail in listed and person.display_code in listed


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (form(reason="   "), "Write why"),
        (form(kind="delete"), "Select a valid choice"),
        ({"kind": "access", "reason": "x"}, "The form was incomplete: send it again."),
        (form(reason="x" * 501), "at most 500 characters"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_records_nothing(
    world, person, sent, message
):
    url = reverse("people:request-new", args=[person.public_id])
    response = world.client_for("ward_a").post(url, sent, **EN)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DataRequest.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="people.data_request").exists()


def test_the_service_refuses_an_empty_reason_and_a_second_erasure(world, person):
    with pytest.raises(ValidationError):
        record(world, person, reason=" \n ")
    request = record(world, person)
    url = reverse("people:request-erase", args=[request.public_id])
    world.client_for("ward_a").post(url, {"code": person.display_code})
    person.refresh_from_db()
    with translation.override("en"), pytest.raises(ValidationError, match="already been erased"):
        record(world, person)


def test_access_export_is_json_of_everything_held_audited_and_done(world, person):
    request = record(world, person, kind=DataRequestKind.ACCESS, reason="form at the desk")
    client = world.client_for("province")
    url = reverse("people:request-export", args=[request.public_id])
    page = client.get(reverse("people:request-detail", args=[request.public_id]), **EN)
    assert url in page.content.decode()
    response = client.get(url, **EN)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    report = json.loads(response.content)
    assert report["request"]["id"] == str(request.public_id)
    assert report["request"]["reason"] == "form at the desk"
    assert report["person"]["full_name"] == person.full_name
    assert report["person"]["email"] == "ha@example.org"
    assert [o["state"] for o in report["outcomes"]] == ["negative"]
    assert "people.data_request_recorded" in [e["action"] for e in report["access_log"]]
    request.refresh_from_db()
    assert request.status == DataRequestStatus.DONE
    assert request.done_by == world.users["province"] and request.done_at is not None
    assert client.get(url).status_code == 200  # a second download: audited again
    actions = list(
        AuditEvent.objects.filter(subject_type="people.person", subject_id=str(person.pk))
        .filter(action__in=["people.subject_access", "people.data_request_done"])
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "people.subject_access",
        "people.data_request_done",
        "people.subject_access",
    ]


def test_erasure_needs_the_code_typed_again_and_happens_once(world, person):
    request = record(world, person)
    client = world.client_for("ward_a")
    url = reverse("people:request-erase", args=[request.public_id])
    detail = client.get(reverse("people:request-detail", args=[request.public_id]), **EN)
    assert 'data-testid="erase-form"' in detail.content.decode()

    for typed in ("", "ABCD-EFGH", person.display_code[:-1]):
        wrong = client.post(url, {"code": typed}, **EN)
        assert wrong.status_code == 400
        assert "not this person's code: nothing was erased" in unescape(wrong.content.decode())
    person.refresh_from_db()
    assert person.pseudonymised_at is None

    old_code = person.code
    response = client.post(url, {"code": person.display_code.lower()}, **EN)
    assert response.status_code == 302
    person.refresh_from_db()
    request.refresh_from_db()
    assert person.full_name == PSEUDONYM and person.pseudonymised_at is not None
    assert person.code != old_code
    assert Outcome.objects.filter(person=person, current=True).exists()  # results stay
    assert request.status == DataRequestStatus.DONE
    [erase] = AuditEvent.objects.filter(action="people.erase")
    assert erase.data == {"reason": "letter 12/2026"}
    # Sent again (a double tap): nothing more happens.
    assert client.post(url, {"code": old_code}, **EN).status_code == 302
    assert AuditEvent.objects.filter(action="people.erase").count() == 1
    assert AuditEvent.objects.filter(action="people.data_request_done").count() == 1
    page = client.get(reverse("people:request-detail", args=[request.public_id]), **EN)
    assert 'data-testid="erase-form"' not in page.content.decode()


def test_an_access_request_cannot_erase_and_an_erasure_has_no_export(world, person):
    access = record(world, person, kind=DataRequestKind.ACCESS)
    erasure = record(world, person)
    client = world.client_for("ward_a")
    url = reverse("people:request-erase", args=[access.public_id])
    assert client.post(url, {"code": person.display_code}, **EN).status_code == 400
    url = reverse("people:request-export", args=[erasure.public_id])
    assert client.get(url, **EN).status_code == 400
    person.refresh_from_db()
    assert person.pseudonymised_at is None


@pytest.mark.parametrize("who", ["dataentry_a", "sampler_a", "labsupervisor_a", "nobody"])
def test_wrong_roles_are_refused(world, person, who):
    request = record(world, person)
    client = world.client_for(who)
    urls = [
        reverse("people:requests"),
        reverse("people:request-new", args=[person.public_id]),
        reverse("people:request-detail", args=[request.public_id]),
        reverse("people:request-export", args=[request.public_id]),
    ]
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert client.post(urls[1], form()).status_code == 403
    erase = reverse("people:request-erase", args=[request.public_id])
    assert client.post(erase, {"code": person.display_code}).status_code == 403
    with pytest.raises(PermissionDenied):
        record(world, person, who=who)
    person.refresh_from_db()
    assert person.pseudonymised_at is None
    assert DataRequest.objects.count() == 1


def test_the_wrong_place_is_not_found(world, person):
    request = record(world, person)
    client = world.client_for("ward_b")
    assert client.get(reverse("people:request-new", args=[person.public_id])).status_code == 404
    assert (
        client.post(reverse("people:request-new", args=[person.public_id]), form()).status_code
        == 404
    )
    for name in ("people:request-detail", "people:request-export"):
        assert client.get(reverse(name, args=[request.public_id])).status_code == 404
    erase = reverse("people:request-erase", args=[request.public_id])
    assert client.post(erase, {"code": person.display_code}).status_code == 404
    listed = client.get(reverse("people:requests"), {"q": person.display_code}, **EN)
    assert person.full_name not in listed.content.decode()
    assert str(request.public_id) not in listed.content.decode()
    with pytest.raises(PermissionDenied):
        record(world, person, who="ward_b")
    person.refresh_from_db()
    assert person.pseudonymised_at is None
    assert DataRequest.objects.count() == 1


def test_the_home_page_and_the_person_offer_the_screen_to_officials_only(world, person):
    url = reverse("people:requests")
    assert url in world.client_for("ward_a").get("/").content.decode()
    assert url not in world.client_for("dataentry_a").get("/").content.decode()
    new = reverse("people:request-new", args=[person.public_id])
    detail = reverse("people:detail", args=[person.public_id])
    assert new in world.client_for("ward_a").get(detail).content.decode()
    assert new not in world.client_for("dataentry_a").get(detail).content.decode()
