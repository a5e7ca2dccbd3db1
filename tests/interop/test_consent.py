"""Partner consent: recorded with the person's code and date of birth, idempotent,
revocable, audited; every mismatch gets one identical refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import translation

from swabline.audit.models import AuditEvent
from swabline.interop import fhir, services
from swabline.people.models import Consent
from tests.interop import cases

pytestmark = pytest.mark.django_db

URL = "/api/v1/fhir/consents"


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


def grant(client: Any, user: Any, code: str, birth: str) -> Any:
    with translation.override("en"):
        return client.post(
            URL,
            data={"code": code, "birth": birth},
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="en",
            **cases.token(user),
        )


def revoke(client: Any, user: Any, patient_id: str) -> Any:
    with translation.override("en"):
        return client.delete(f"{URL}/{patient_id}", **cases.token(user))


def test_a_partner_records_consent_once(client, world):
    who = cases.person(world)
    partner = cases.partner(world)
    first = grant(client, partner, who.display_code, "17/05/1980")
    assert first.status_code == 201
    assert json.loads(first.content)["patient"] == fhir.patient_id(who.public_id)
    again = grant(client, partner, who.code.lower(), "1980-05-17")
    assert again.status_code == 200
    assert Consent.objects.filter(person=who, partner=partner, revoked_at__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action="consent.granted").count() == 1


def test_a_year_only_person_gives_the_year(client, world):
    who = cases.person(world, birth_date=None, birth_year=1961)
    partner = cases.partner(world)
    assert grant(client, partner, who.code, "1960").status_code == 404
    assert grant(client, partner, who.code, "1961").status_code == 201


def test_every_mismatch_is_the_same_refusal(client, world):
    who = cases.person(world)
    outsider = cases.person(world, ward=world.ward_c)
    partner = cases.partner(world, place=world.province)
    answers = [
        grant(client, partner, who.code, "18/05/1980"),  # wrong date
        grant(client, partner, who.code, "1980"),  # a year where the date is known
        grant(client, partner, "3467-9ACD", "17/05/1980"),  # no such code
        grant(client, partner, "not a code", "17/05/1980"),
        grant(client, partner, who.code, "not a date"),
        grant(client, partner, outsider.code, "17/05/1980"),  # outside the partner's places
    ]
    assert {(a.status_code, a.content) for a in answers} == {
        (404, b'{"detail": "No person matches this code and date of birth."}')
    }
    assert Consent.objects.count() == 0


def test_too_many_failures_block_the_partner_even_for_a_right_answer(client, world, settings):
    settings.CONSENT_FAILURE_LIMIT = 3
    who = cases.person(world)
    partner = cases.partner(world)
    for day in (1, 2, 3):
        assert grant(client, partner, who.code, f"{day:02d}/01/1980").status_code == 404
    assert grant(client, partner, who.code, "17/05/1980").status_code == 429
    other = cases.partner(world, "other-partner")
    assert grant(client, other, who.code, "17/05/1980").status_code == 201


@pytest.mark.parametrize("persona", ["ward_a", "province", "sampler_a", "nobody"])
def test_only_partners_record_consent(client, world, persona):
    who = cases.person(world)
    response = grant(client, world.users[persona], who.code, "17/05/1980")
    assert response.status_code == 403
    assert Consent.objects.count() == 0


def test_revoke_is_idempotent_and_audited(client, world):
    who = cases.person(world)
    partner = cases.partner(world)
    assert grant(client, partner, who.code, "17/05/1980").status_code == 201
    patient = fhir.patient_id(who.public_id)
    first = revoke(client, partner, patient)
    assert first.status_code == 200
    assert json.loads(first.content)["active"] is False
    assert revoke(client, partner, patient).status_code == 200
    assert AuditEvent.objects.filter(action="consent.revoked").count() == 1
    assert not Consent.objects.filter(revoked_at__isnull=True).exists()
    # Granting again makes a new active consent beside the revoked one.
    assert grant(client, partner, who.code, "17/05/1980").status_code == 201
    assert Consent.objects.filter(person=who).count() == 2


def test_revoking_what_was_never_given_is_refused(client, world):
    who = cases.person(world)
    partner = cases.partner(world)
    other = cases.partner(world, "other-partner")
    grant(client, other, who.code, "17/05/1980")
    never = revoke(client, partner, fhir.patient_id(who.public_id))
    unknown = revoke(client, partner, "no-such-patient")
    assert (never.status_code, never.content) == (unknown.status_code, unknown.content)
    assert never.status_code == 404
    assert revoke(client, world.users["ward_a"], fhir.patient_id(who.public_id)).status_code == 403


def test_staff_who_help_citizens_revoke_for_a_person_of_their_place(world):
    who = cases.person(world)
    partner = cases.partner(world)
    cases.consent(who, partner)
    with pytest.raises(services.PermissionDenied):
        services.revoke_consent(by=world.users["ward_b"], person=who, partner=partner)
    consent = services.revoke_consent(by=world.users["ward_a"], person=who, partner=partner)
    assert consent.revoked_at is not None
