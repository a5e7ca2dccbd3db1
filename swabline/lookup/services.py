"""Writes of the look-up: one try counted, and a locked look-up unlocked by staff.

Counting (`attempt`). Every try, right or wrong, goes through one statement:

    INSERT INTO lookup_lookupcounter (key, tries, expires_at) VALUES (...), (...), (...)
    ON CONFLICT (key) DO UPDATE SET tries = <old + this try's failure, or restart>
    RETURNING key, tries

over three keys: the identity for the short window ("i"), the identity for the day
("d"), the client address ("c"). A wrong try adds 1, a right one adds 0, and the
answer is decided from the count *before* this try. The statement takes the
row's lock, so parallel tries on one identity are put in one order by the
database, each seeing every earlier failure: a right date of birth is let in only
while fewer than the limit of wrong ones came before it, however many guesses are
sent at once (on SQLite the write lock orders them the same way). A try never
reads the count in one statement and writes it in another.

Whether the date of birth is right is known before the statement (people with
this identifier *and* this date, `queries.matching_people`); unknown identity,
wrong date and locked identity are the same answer, reached by the same two
queries. A success adds 0, so a household looking up each member with the head's
phone does not lock itself, and knowing one member's date does not reset the
count for guessing another's. Locks end when their window passes or when staff
unlock (`unlock`). A client over its limit gets `THROTTLED` (HTTP 429), never a
verdict.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from swabline.audit import services as audit
from swabline.lookup import queries
from swabline.lookup.identifiers import Birth, Identifier
from swabline.lookup.models import LookupCounter
from swabline.lookup.queries import PersonRow
from swabline.people.models import Person

DAY_MINUTES = 24 * 60


class Verdict(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"  # unknown, wrong date of birth, or locked: one answer
    THROTTLED = "throttled"  # this client failed too often


@dataclass(frozen=True)
class Attempt:
    verdict: Verdict
    people: list[PersonRow] = field(default_factory=list)
    # The identity's failures in this window before this try, in the order the
    # database put the tries in (what the tests of the limit look at).
    failures_before: int = 0

    @property
    def person_ids(self) -> list[int]:
        return [p.id for p in self.people]


def _limits() -> dict[str, tuple[int, int]]:
    """Per key prefix: (max failed tries, window in minutes)."""
    return {
        "i": (settings.LOOKUP_MAX_FAILURES, settings.LOOKUP_WINDOW_MINUTES),
        "d": (settings.LOOKUP_DAILY_MAX_FAILURES, DAY_MINUTES),
        "c": (settings.LOOKUP_CLIENT_MAX_FAILURES, settings.LOOKUP_CLIENT_WINDOW_MINUTES),
    }


def attempt(*, identifier: Identifier, birth: Birth, client: str) -> Attempt:
    """Try a look-up: count it and decide (see the module docstring).

    Two statements in autocommit, the same on every path: the people who match,
    then the counters' upsert. Writes no audit event (a citizen reading their own
    result) and nothing else.
    """
    people = queries.matching_people(identifier, birth)
    keys = {"i": identifier.key("i"), "d": identifier.key("d"), "c": queries.client_key(client)}
    before = _count(keys, failed=not people)
    limits = _limits()
    if before["c"] >= limits["c"][0]:
        return Attempt(Verdict.THROTTLED, failures_before=before["i"])
    if people and before["i"] < limits["i"][0] and before["d"] < limits["d"][0]:
        return Attempt(Verdict.GRANTED, people, before["i"])
    return Attempt(Verdict.REFUSED, failures_before=before["i"])


def _count(keys: dict[str, str], *, failed: bool) -> dict[str, int]:
    """Count one try on each key, atomically; each key's failures *before* it."""
    now = timezone.now()
    inc = 1 if failed else 0
    ops = connection.ops
    values: list[Any] = []
    for prefix, key in keys.items():
        minutes = _limits()[prefix][1]
        values += [key, inc, ops.adapt_datetimefield_value(now + dt.timedelta(minutes=minutes))]
    stamp = ops.adapt_datetimefield_value(now)
    table = LookupCounter._meta.db_table
    sql = f"""
      INSERT INTO {table} (key, tries, expires_at) VALUES {", ".join(["(%s, %s, %s)"] * len(keys))}
      ON CONFLICT (key) DO UPDATE SET
        tries = CASE WHEN {table}.expires_at <= %s THEN excluded.tries
                     ELSE {table}.tries + excluded.tries END,
        expires_at = CASE WHEN {table}.expires_at <= %s THEN excluded.expires_at
                          ELSE {table}.expires_at END
      RETURNING key, tries
    """  # noqa: S608 — only the table name and placeholders are interpolated
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, stamp, stamp])
        after = dict(cursor.fetchall())
    return {prefix: int(after[key]) - inc for prefix, key in keys.items()}


def unlock(*, by: Any, person: Person) -> int:
    """Clear the failure counts of every identifier of `person` (code, CCCD, phone),
    so they can look up again at once. Audited. Returns the counters cleared.

    A phone shared by a household is unlocked for the whole household: the count
    was the phone's, not one member's.
    """
    keys = [i.key(p) for i in queries.identifiers_of(person) for p in ("i", "d")]
    with transaction.atomic():
        cleared, _ = LookupCounter.objects.filter(key__in=keys).delete()
        audit.record(
            by=by,
            action="lookup.unlocked",
            subject=person,
            province_code=person.province_code,
            counters=cleared,
        )
    return cleared


def purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete counters whose window has passed (they count nothing any more)."""
    cleared, _ = LookupCounter.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return cleared
