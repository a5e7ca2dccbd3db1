"""Every staff view of a person's record or result writes an audit event before it
shows anything, and when the audit store refuses the event (a real database
trigger) the view answers 503 and shows and changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from swabline.accounts import services as accounts
from swabline.audit.models import AuditEvent
from swabline.certificates.models import Certificate
from swabline.lookup.models import LookupCounter
from swabline.people import data_requests
from swabline.people.enums import DataRequestKind, DataRequestStatus
from swabline.people.models import DataRequest, Person
from swabline.people.retention import subject_access
from swabline.results.models import Outcome
from tests.audit.helpers import audit_refused
from tests.certificates.helpers import outcome_of
from tests.lookup.helpers import post
from tests.results.helpers import released
from tests.sampling.factories import people

pytestmark = pytest.mark.django_db

EN: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}
NOT_RECORDED = "could not be written to the audit trail"


@pytest.fixture
def pool(world: Any) -> list[Person]:
    """A positive pool of three people of ward A, recalled long enough ago to alarm."""
    members = people(world, 3)
    released(world, "positive", members)
    Outcome.objects.filter(person__in=members).update(
        decided_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    return members


def _people_detail(world: Any, p: Person) -> str:
    return reverse("people:detail", args=[p.public_id])


def _people_api(world: Any, p: Person) -> str:
    return f"/api/v1/people/{p.public_id}"


def _recall_list(world: Any, p: Person) -> str:
    return reverse("results:recall-list", args=[world.campaign.public_id])


def _recall_export(world: Any, p: Person) -> str:
    return reverse("results:recall-export", args=[world.campaign.public_id])


def _recall_alarm(world: Any, p: Person) -> str:
    kw = {"public_id": world.campaign.public_id, "kind": "recall"}
    return reverse("dashboard:alarm", kwargs=kw) + f"?place={world.ward_a.code}"


def _messages(world: Any, p: Person) -> str:
    return reverse("notifications:person", args=[p.public_id])


def _people_export(world: Any, p: Person) -> str:
    return reverse("people:export-csv")


# (page, who looks, the action recorded, events per view: "each" = one per person shown)
VIEWS = [
    (_people_detail, "ward_a", "people.viewed", 1),
    (_people_api, "ward_a", "people.viewed", 1),
    (_recall_list, "ward_a", "results.recall_viewed", "each"),
    (_recall_alarm, "province", "dashboard.recall_viewed", "each"),
    (_messages, "ward_a", "notifications.person_viewed", 1),
    (_recall_export, "ward_a", "results.recall_exported", 1),
    (_people_export, "dataentry_a", "people.exported", 1),
]
IDS = [v[0].__name__.strip("_") for v in VIEWS]


def getter(world: Any, who: str, url: str) -> Any:
    """GET `url` as `who`: a logged-in browser, or with a bearer token for the API."""
    if url.startswith("/api/"):
        _, raw = accounts.issue_token(user=world.users[who], name="test")
        return lambda: Client().get(url, HTTP_AUTHORIZATION=f"Bearer {raw}", **EN)
    client = world.client_for(who)
    return lambda: client.get(url, **EN)


def get(world: Any, who: str, url: str) -> Any:
    return getter(world, who, url)()


@pytest.mark.parametrize(("page", "who", "action", "events"), VIEWS, ids=IDS)
def test_every_staff_view_is_audited(world, pool, page, who, action, events):
    response = get(world, who, page(world, pool[0]))
    assert response.status_code == 200
    recorded = AuditEvent.objects.filter(action=action)
    user = world.users[who]
    assert {(e.actor_id, e.actor_label) for e in recorded} == {(user.pk, user.username)}
    if events == "each":
        assert sorted(e.subject_id for e in recorded) == sorted(str(p.pk) for p in pool)
        assert {e.province_code for e in recorded} == {world.province.province_code}
        assert {e.data["campaign"] for e in recorded} == {str(world.campaign.public_id)}
    else:
        assert recorded.count() == events
    if page in (_people_detail, _people_api, _messages):
        [event] = recorded
        assert (event.subject_type, event.subject_id) == ("people.person", str(pool[0].pk))


@pytest.mark.parametrize(("page", "who", "action", "events"), VIEWS, ids=IDS)
def test_a_refused_audit_write_shows_nothing(world, pool, page, who, action, events):
    fetch = getter(world, who, page(world, pool[0]))
    with audit_refused():
        response = fetch()
    assert response.status_code == 503
    body = response.content.decode()
    assert NOT_RECORDED in body
    for p in pool:
        assert p.full_name not in body and p.display_code not in body
    assert response["Cache-Control"] == "no-store"
    assert not AuditEvent.objects.filter(action=action).exists()
    # Once the audit store takes events again, the same view works.
    assert fetch().status_code == 200


def test_the_person_sees_who_looked_in_their_access_export(world, pool):
    get(world, "ward_a", _people_detail(world, pool[0]))
    get(world, "province", _recall_alarm(world, pool[0]))
    report = subject_access(by=world.users["admin"], person=pool[0])
    seen = [(e["by"], e["action"]) for e in report["access_log"]]
    assert ("ward_a", "people.viewed") in seen
    assert ("province", "dashboard.recall_viewed") in seen


def test_the_api_answers_a_refused_audit_in_json(world, pool):
    fetch = getter(world, "ward_a", _people_api(world, pool[0]))
    with audit_refused():
        response = fetch()
    assert response.status_code == 503
    assert response.json() == {"detail": response.json()["detail"]}
    assert NOT_RECORDED in response.json()["detail"]


def test_a_certificate_downloaded_by_staff_is_audited_and_the_persons_own_is_not(world):
    outcome = outcome_of(world)
    url = f"/certificates/{outcome.pk}.pdf"
    response = world.client_for("ward_a").get(url)
    assert response.status_code == 200
    [event] = AuditEvent.objects.filter(action="certificates.downloaded_by_staff")
    assert (event.actor_id, event.subject_id) == (world.users["ward_a"].pk, str(outcome.person_id))
    assert event.data == {"outcome": outcome.pk}

    from tests.certificates.test_views import granted_client

    assert granted_client(outcome.person_id).get(url).status_code == 200
    assert AuditEvent.objects.filter(action="certificates.downloaded_by_staff").count() == 1


def test_a_refused_audit_issues_and_sends_no_certificate(world):
    outcome = outcome_of(world, full_name="Lý Thị Kiều")
    with audit_refused():
        response = world.client_for("ward_a").get(f"/certificates/{outcome.pk}.pdf", **EN)
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "Lý Thị Kiều" not in response.content.decode()
    assert not Certificate.objects.exists()


def test_a_refused_audit_leaves_the_lookup_locked(world, pool, settings):
    settings.LOOKUP_MAX_FAILURES = 1
    p = pool[0]
    post(Client(), p.code, dt.date(1901, 1, 1))
    locked = set(LookupCounter.objects.exclude(key__startswith="c:").values_list("key", flat=True))
    assert locked  # the identity's counters (the client's own is not the person's)
    client = world.client_for("dataentry_a")
    with audit_refused():
        response = client.post(f"/lookup/help/{p.public_id}/unlock/", **EN)
    assert response.status_code == 503
    assert set(LookupCounter.objects.filter(key__in=locked).values_list("key", flat=True)) == locked
    assert client.post(f"/lookup/help/{p.public_id}/unlock/").status_code == 302
    assert not LookupCounter.objects.filter(key__in=locked).exists()


def test_a_refused_audit_records_and_erases_nothing(world, pool):
    p, official = pool[0], world.users["ward_a"]
    client = world.client_for("ward_a")
    form = {"kind": "erasure", "reason": "letter 7/2026", "client_id": str(uuid.uuid4())}
    with audit_refused():
        response = client.post(reverse("people:request-new", args=[p.public_id]), form, **EN)
    assert response.status_code == 503
    assert not DataRequest.objects.exists()

    request = data_requests.record_request(
        by=official, person=p, kind=DataRequestKind.ERASURE, reason="letter", client_id=uuid.uuid4()
    )
    erase = reverse("people:request-erase", args=[request.public_id])
    with audit_refused():
        response = client.post(erase, {"code": p.display_code}, **EN)
    assert response.status_code == 503
    p.refresh_from_db()
    request.refresh_from_db()
    assert p.pseudonymised_at is None and p.full_name != "—"
    assert request.status == DataRequestStatus.OPEN

    access = data_requests.record_request(
        by=official, person=p, kind=DataRequestKind.ACCESS, reason="form", client_id=uuid.uuid4()
    )
    with audit_refused():
        response = client.get(reverse("people:request-export", args=[access.public_id]), **EN)
    assert response.status_code == 503
    assert p.full_name not in response.content.decode()
    access.refresh_from_db()
    assert access.status == DataRequestStatus.OPEN
