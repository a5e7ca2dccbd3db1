"""Retention and erasure: personal data goes, counts and results stay."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from swabline.audit.models import AuditEvent
from swabline.certificates import services as certificates
from swabline.certificates.models import Certificate
from swabline.lookup import services as lookup
from swabline.lookup.identifiers import Birth, parse_identifier
from swabline.lookup.services import Verdict
from swabline.notifications.models import Notification
from swabline.people.models import Consent, Declaration, Person
from swabline.people.qr import decode_payload, encode_payload
from swabline.people.retention import PSEUDONYM, apply_retention, erase_person
from swabline.results.models import Outcome
from swabline.sampling.models import Sample
from tests.interop.cases import consent, partner
from tests.notifications.helpers import notified
from tests.sampling.factories import people

pytestmark = pytest.mark.django_db

LATER = timezone.now() + dt.timedelta(days=400)


def counts() -> dict[str, object]:
    return {
        "people per ward, sex, year": sorted(
            Person.objects.values_list("ward_id", "sex", "birth_year").annotate(n=Count("id"))
        ),
        "samples": Sample.objects.count(),
        "outcomes per state": sorted(
            Outcome.objects.values_list("state", "current").annotate(n=Count("id"))
        ),
        "messages per status": sorted(
            Notification.objects.values_list("status").annotate(n=Count("id"))
        ),
    }


def test_inactive_people_lose_their_personal_data_and_keep_their_counts(world):
    old = notified(world, "negative", count=2, email="a@example.org", address="12 Lê Lợi")
    certificate = certificates.issue(outcome=Outcome.objects.get(person=old[0], current=True))
    Declaration.objects.create(person=old[0], source="self", symptoms=["cough"])
    consent(old[0], partner(world))
    before = counts()
    old_code, old_qr, old_phone = old[0].code, encode_payload(old[0]), old[0].phone

    born = old[0].birth_date
    assert born is not None
    before_run = lookup.attempt(
        identifier=parse_identifier(old_code), birth=Birth(born.year, born), client="t0"
    )
    assert before_run.verdict == Verdict.GRANTED

    run = apply_retention(days=365, now=LATER)

    assert run.people >= 2
    for person in Person.objects.filter(pk__in=[p.pk for p in old]):
        assert person.pseudonymised_at is not None
        assert person.full_name == PSEUDONYM
        assert (person.birth_date, person.phone, person.email, person.address) == (None, "", "", "")
        assert person.national_id is None and person.identity_key is None
        assert person.name_folded == "" and person.household_key == ""
        assert person.birth_year and person.ward_id and person.sex  # what counts need
    assert counts() == before
    assert not Declaration.objects.filter(person__in=old).exists()
    assert not Certificate.objects.filter(pk=certificate.pk).exists()
    assert set(Notification.objects.filter(person__in=old).values_list("recipient", flat=True)) == {
        ""
    }
    assert not Consent.objects.filter(person=old[0], revoked_at__isnull=True).exists()
    # Neither the old code nor the old QR nor the old phone finds anyone any more.
    assert Person.objects.get(pk=old[0].pk).code != old_code
    found = decode_payload(old_qr)
    assert found is None or not Person.objects.filter(qr_token=found.token).exists()
    for typed in (old_code, old_phone):
        for birth in (Birth(born.year, born), Birth(born.year, None)):
            tried = lookup.attempt(identifier=parse_identifier(typed), birth=birth, client="t")
            assert tried.verdict == Verdict.REFUSED
    assert AuditEvent.objects.filter(action="people.retention").count() == 1


def test_recent_people_are_kept_and_a_second_run_changes_nothing(world):
    [recent] = people(world, 1)
    apply_retention(days=365)  # nobody is a year old yet
    recent.refresh_from_db()
    assert recent.pseudonymised_at is None and recent.full_name != PSEUDONYM

    apply_retention(days=365, now=LATER)
    assert apply_retention(days=365, now=LATER).people == 0


def test_a_sample_within_the_period_keeps_the_person(world):
    [person] = notified(world, "negative", count=1)
    Person.objects.filter(pk=person.pk).update(
        created_at=LATER - dt.timedelta(days=800), updated_at=LATER - dt.timedelta(days=800)
    )
    # Sampled and released "now", which is within a year of LATER - 300 days.
    assert apply_retention(days=365, now=LATER - dt.timedelta(days=300)).people == 0
    person.refresh_from_db()
    assert person.pseudonymised_at is None


def test_erasure_on_request_is_audited_and_keeps_results(world):
    [person, other] = notified(world, "negative", count=2)
    erase_person(by=world.users["admin"], person=person, reason="request by letter 12/2026")
    person.refresh_from_db()
    other.refresh_from_db()
    assert person.full_name == PSEUDONYM and other.full_name != PSEUDONYM
    assert Outcome.objects.filter(person=person, current=True).exists()
    event = AuditEvent.objects.get(action="people.erase")
    assert event.subject_id == str(person.pk)
    assert event.data == {"reason": "request by letter 12/2026"}


def test_commands(world):
    [person] = notified(world, "negative", count=1)
    # Public ids are URL-safe base64 and may begin with "-": "--" ends the options.
    Person.objects.filter(pk=person.pk).update(public_id="-" + person.public_id[1:])
    person.refresh_from_db()
    out = io.StringIO()
    call_command("erase_person", "--reason=asked", "--", person.public_id, stdout=out)
    assert Person.objects.get(pk=person.pk).pseudonymised_at is not None
    call_command("erase_person", "--reason=asked", "--", person.public_id, stdout=out)
    assert AuditEvent.objects.filter(action="people.erase").count() == 1
    call_command("apply_retention", days=365, stdout=out)
    assert "0" in out.getvalue().splitlines()[-1]


def test_subject_access_lists_everything_held_and_is_audited(world):
    [person] = notified(world, "negative", count=1, email="a@example.org")
    Declaration.objects.create(person=person, source="self", symptoms=["cough"])
    out = io.StringIO()
    call_command("subject_access", "--", person.public_id, stdout=out)
    report = json.loads(out.getvalue())
    assert report["person"]["full_name"] == person.full_name
    assert report["person"]["phone"] == person.phone
    assert report["declarations"][0]["symptoms"] == ["cough"]
    [sample] = report["samples"]
    assert sample["tube"] == Sample.objects.get(person=person).tube.code
    assert [o["state"] for o in report["outcomes"]] == ["negative"]
    assert {m["channel"] for m in report["messages"]} >= {"sms", "email"}
    assert AuditEvent.objects.filter(
        action="people.subject_access", subject_id=str(person.pk)
    ).exists()
