"""Look-up rules without HTTP: who matches, how failures count and lock, unlocking."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from swabline.audit.models import AuditEvent
from swabline.lookup import queries, services
from swabline.lookup.identifiers import Birth, Identifier, parse_identifier
from swabline.lookup.models import LookupCounter
from swabline.lookup.services import Verdict
from tests.lookup.helpers import BORN, person

pytestmark = pytest.mark.django_db
WRONG = dt.date(1961, 8, 16)


def attempt(
    typed: str, born: dt.date | None = BORN, *, year: int | None = None, client: str = "10.0.0.1"
):
    birth = Birth(born.year, born) if born else Birth(year or 0, None)
    return services.attempt(identifier=parse_identifier(typed), birth=birth, client=client)


def test_code_cccd_or_phone_with_the_date_of_birth(world):
    p = person(world, national_id="079061012345", phone="+84912000001")
    for typed in (p.code.lower(), p.display_code, "079 061 012 345", "0912 000 001", "84912000001"):
        tried = attempt(typed)
        assert tried.verdict == Verdict.GRANTED, typed
        assert tried.person_ids == [p.pk]


def test_wrong_date_unknown_identity_are_one_answer(world):
    p = person(world)
    assert attempt(p.code, WRONG) == services.Attempt(Verdict.REFUSED)
    assert attempt("0912 999 999") == services.Attempt(Verdict.REFUSED)
    assert attempt(p.code, WRONG) == services.Attempt(Verdict.REFUSED, failures_before=1)


def test_year_only_registration_matches_on_the_year(world):
    p = person(world, birth_date=None, birth_year=1950)
    assert attempt(p.code, dt.date(1950, 3, 1)).verdict == Verdict.GRANTED
    assert attempt(p.code, None, year=1950).verdict == Verdict.GRANTED
    assert attempt(p.code, dt.date(1951, 3, 1)).verdict == Verdict.REFUSED


def test_full_date_registration_needs_the_full_date(world):
    p = person(world)
    assert attempt(p.code, None, year=BORN.year).verdict == Verdict.REFUSED


def test_merged_away_records_do_not_match(world):
    survivor = person(world)
    merged = person(world, full_name="Nguyễn Văn Cũ")
    type(merged).objects.filter(pk=merged.pk).update(merged_into=survivor, identity_key=None)
    assert attempt(merged.code).verdict == Verdict.REFUSED


def test_household_phone_shows_each_member_by_their_own_date(world):
    phone = "+84912000002"
    head = person(
        world,
        phone=phone,
        birth_date=dt.date(1970, 1, 2),
        household_key="h-1",
        is_household_head=True,
    )
    spouse = person(world, phone=phone, birth_date=dt.date(1972, 3, 4), household_key="h-1")
    grandmother = person(world, phone=phone, birth_date=None, birth_year=1940, household_key="h-1")
    twin_a = person(world, phone=phone, birth_date=dt.date(2010, 5, 6), household_key="h-1")
    twin_b = person(world, phone=phone, birth_date=dt.date(2010, 5, 6), household_key="h-1")
    assert attempt("0912000002", dt.date(1970, 1, 2)).person_ids == [head.pk]
    assert attempt("0912000002", dt.date(1972, 3, 4)).person_ids == [spouse.pk]
    assert attempt("0912000002", None, year=1940).person_ids == [grandmother.pk]
    assert attempt("0912000002", dt.date(2010, 5, 6)).person_ids == [twin_a.pk, twin_b.pk]
    # Successes do not count: a household of five looks itself up without locking.
    assert _tries(Identifier("phone", phone)) == 0


def _tries(identifier: Identifier, prefix: str = "i") -> int:
    row = LookupCounter.objects.filter(key=identifier.key(prefix)).first()
    return row.tries if row else 0


def test_failures_lock_the_identity_and_the_right_date_no_longer_opens(world, settings):
    settings.LOOKUP_MAX_FAILURES = 3
    p = person(world)
    for _ in range(3):
        assert attempt(p.code, WRONG).verdict == Verdict.REFUSED
    assert attempt(p.code).verdict == Verdict.REFUSED  # locked: the same answer as wrong
    assert _tries(Identifier("code", p.code)) == 3
    # Locked by code only: the CCCD or phone of the same person are counted apart.
    assert queries.lock_states([p]) == {p.pk: True}


def test_the_lock_ends_when_the_window_passes(world, settings):
    settings.LOOKUP_MAX_FAILURES = 2
    p = person(world)
    attempt(p.code, WRONG)
    attempt(p.code, WRONG)
    assert attempt(p.code).verdict == Verdict.REFUSED
    LookupCounter.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert attempt(p.code).verdict == Verdict.GRANTED
    assert attempt(p.code, WRONG).verdict == Verdict.REFUSED
    assert _tries(Identifier("code", p.code)) == 1  # a new window


def test_the_daily_limit_outlasts_short_windows(world, settings):
    settings.LOOKUP_MAX_FAILURES = 2
    settings.LOOKUP_DAILY_MAX_FAILURES = 3
    p = person(world)
    attempt(p.code, WRONG)
    attempt(p.code, WRONG)
    LookupCounter.objects.filter(key__startswith="i:").update(expires_at=timezone.now())
    attempt(p.code, WRONG)
    LookupCounter.objects.filter(key__startswith="i:").update(expires_at=timezone.now())
    assert _tries(Identifier("code", p.code), "d") == 3
    assert attempt(p.code).verdict == Verdict.REFUSED


def test_staff_unlock_clears_every_identifier_and_is_audited(world, settings):
    settings.LOOKUP_MAX_FAILURES = 2
    p = person(world, national_id="079061012399", phone="+84912000003")
    for typed in (p.code, "079061012399", "0912000003"):
        attempt(typed, WRONG)
        attempt(typed, WRONG)
    assert queries.lock_states([p]) == {p.pk: True}
    assert services.unlock(by=world.users["ward_a"], person=p) == 6
    assert queries.lock_states([p]) == {p.pk: False}
    assert attempt(p.code).verdict == Verdict.GRANTED
    event = AuditEvent.objects.get(action="lookup.unlocked")
    assert (event.actor_label, event.subject_id, event.data) == (
        "ward_a",
        str(p.pk),
        {"counters": 6},
    )


def test_a_client_that_fails_too_often_is_throttled(world, settings):
    settings.LOOKUP_CLIENT_MAX_FAILURES = 3
    p = person(world)
    for i in range(3):
        assert attempt(f"091200010{i}", client="10.9.9.9").verdict == Verdict.REFUSED
    # Even the right answer gets no verdict from this client now; others are not slowed.
    assert attempt(p.code, client="10.9.9.9").verdict == Verdict.THROTTLED
    assert attempt(p.code, client="10.9.9.8").verdict == Verdict.GRANTED


def test_counters_hold_no_identifier(world):
    p = person(world, phone="+84912000004")
    attempt("0912000004", WRONG, client="192.0.2.7")
    for key in LookupCounter.objects.values_list("key", flat=True):
        assert "912000004" not in key and "192.0.2.7" not in key and p.code not in key


def test_purge_expired(world):
    attempt("0912000005", WRONG)
    assert services.purge_expired() == 0
    assert services.purge_expired(now=timezone.now() + dt.timedelta(days=2)) == 3


def test_purge_command(world):
    from io import StringIO

    from django.core.management import call_command

    attempt("0912000006", WRONG)
    LookupCounter.objects.update(expires_at=timezone.now())
    out = StringIO()
    call_command("purge_lookup_counters", stdout=out)
    assert out.getvalue().strip() == "3 expired look-up counters deleted"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path")
def test_a_right_answer_leaves_the_client_counter_alone(world):
    """One address (a carrier's NAT) must not put every look-up behind one row lock."""
    p = person(world)
    assert attempt(p.code, client="10.7.7.7").verdict == Verdict.GRANTED
    assert not LookupCounter.objects.filter(key=queries.client_key("10.7.7.7")).exists()
    attempt(p.code, WRONG, client="10.7.7.7")
    assert LookupCounter.objects.get(key=queries.client_key("10.7.7.7")).tries == 1
