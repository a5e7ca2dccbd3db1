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
verdict. On PostgreSQL a right answer reads the client's counter instead of
locking it (see `_attempt_in_one_statement`). Decision 0009 has the reasons.
"""

from __future__ import annotations

import datetime as dt
import functools
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
from swabline.sampling import bulk

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
    # What the timeline shows, when asked for (`attempt(with_facts=True)`).
    facts: queries.Facts | None = None

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


def attempt(
    *, identifier: Identifier, birth: Birth, client: str, with_facts: bool = False
) -> Attempt:
    """Try a look-up: count it and decide (see the module docstring). With
    `with_facts`, a granted attempt also carries what the timeline shows.

    The same work on every path: on PostgreSQL one statement (the match, the
    counters' upsert and, when asked and granted, the facts, in one data-modifying
    WITH); on SQLite two (the match, then the upsert) and the facts after. Autocommit,
    no transaction of its own; writes no audit event (a citizen reading their own
    result) and nothing else.
    """
    keys = {"i": identifier.key("i"), "d": identifier.key("d"), "c": queries.client_key(client)}
    limits = _limits()
    if connection.vendor == "postgresql":
        found, after, facts = _attempt_in_one_statement(identifier, birth, keys, limits, with_facts)
        inc = 0 if found else 1
    else:
        match_sql, match_params = queries.matching_sql(identifier, birth)
        counted = _counted(keys)
        found = [list(r) for r in queries.select(match_sql, match_params)]
        inc = 0 if found else 1
        after = dict(queries.select(f"{counted[0]} RETURNING key, tries", [inc, *counted[1]]))
        facts = None
    people = sorted(queries.person_rows(found), key=lambda p: (not p.is_head, p.id))
    before = {prefix: after[key] - inc for prefix, key in keys.items()}
    if before["c"] >= limits["c"][0]:
        return Attempt(Verdict.THROTTLED, failures_before=before["i"])
    if people and before["i"] < limits["i"][0] and before["d"] < limits["d"][0]:
        if with_facts and facts is None:
            facts = queries.facts(people)
        return Attempt(Verdict.GRANTED, people, before["i"], facts)
    return Attempt(Verdict.REFUSED, failures_before=before["i"])


def _attempt_in_one_statement(
    identifier: Identifier,
    birth: Birth,
    keys: dict[str, str],
    limits: dict[str, tuple[int, int]],
    with_facts: bool,
) -> tuple[list[list[Any]], dict[str, int], queries.Facts | None]:
    """PostgreSQL: the match (m), the count (u) and, for the people let in (g), the
    facts (f), in one round trip answered as one row of JSON arrays.

    Two things keep parallel look-ups from waiting on each other:
    - the client's counter is written only by a wrong answer (a right one reads it
      without a lock): one address, e.g. a carrier's NAT, would otherwise put every
      look-up behind that one row's lock. The client limit is a slow-down, not the
      guarantee (the identity's counters are), so a read is enough.
    - the statement commits asynchronously (`synchronous_commit` off for its own
      transaction): it does not wait for the WAL flush. A crash of PostgreSQL may
      lose the last fraction of a second of counts; the lock order, which is the
      guarantee, is unchanged.

    The statement's text depends only on its shape (`_one_statement_text`), so it
    is built once per process; only the parameters are made per try.
    """
    client = keys["c"]
    now = timezone.now()
    # Only in autocommit: inside a caller's transaction the setting would last to
    # the end of that transaction and cover its other writes too.
    autocommit = connection.get_autocommit()
    sql = _one_statement_text(identifier.kind, birth.date is not None, with_facts, autocommit)
    params: list[Any] = [
        *queries.matching_params(identifier, birth),
        *_counted_params(keys, limits, now, skip_on_match=client),
    ]
    if with_facts:
        params += [keys["i"], limits["i"][0], keys["d"], limits["d"][0], client, now]
        params += [limits["c"][0]]
    [row] = queries.select(sql, [*params, client, now])
    people = [[m[c] for c in queries.PERSON_COLUMNS] for m in bulk.json_value(row[0]) or []]
    after = {u["key"]: int(u["tries"]) for u in bulk.json_value(row[1]) or []}
    after.setdefault(client, int(row[2] or 0))  # a right answer: read, not counted
    if not with_facts:
        return people, after, None
    rows = [[f[c] for c in queries.FACT_COLUMNS] for f in bulk.json_value(row[4]) or []]
    return people, after, queries.facts_from_rows(rows)


@functools.lru_cache(maxsize=64)
def _one_statement_text(kind: str, full_date: bool, with_facts: bool, autocommit: bool) -> str:
    """The SQL of `_attempt_in_one_statement` for one shape of try (PostgreSQL)."""
    client_now = "(SELECT tries FROM lookup_lookupcounter WHERE key = %s AND expires_at > %s)"
    done = "set_config('synchronous_commit', 'off', true)" if autocommit else "''"
    counted = _counted_text(len(KEY_PREFIXES), "postgresql", skip_on_match=True)
    matching = queries.matching_text(kind, full_date)
    parts = (
        f"WITH m AS ({matching}), u AS ({counted} RETURNING key, tries),"
        f" a AS (SELECT {done} AS done)"
    )
    select = (
        f"SELECT (SELECT json_agg(m) FROM m), (SELECT json_agg(u) FROM u), {client_now},"  # noqa: S608
        " (SELECT done FROM a)"
    )
    if with_facts:
        let_in = "IN (SELECT id FROM g)"
        facts = queries.facts_sql(
            f"s.person_id {let_in}", f"o.person_id {let_in}", f"p.id {let_in}"
        )
        parts += (
            " , g AS (SELECT m.id FROM m WHERE NOT EXISTS (SELECT 1 FROM u WHERE"  # noqa: S608
            " (u.key = %s AND u.tries >= %s) OR (u.key = %s AND u.tries >= %s))"
            f" AND COALESCE({client_now}, 0) < %s)"
            f", f AS ({facts})"
        )
        select += ", (SELECT json_agg(f) FROM f)"
    return f"{parts} {select}"


# The counters' key prefixes, in the order `attempt` builds them.
KEY_PREFIXES = ("i", "d", "c")


def _counted(keys: dict[str, str], *, skip_on_match: str = "") -> tuple[str, list[Any]]:
    """The upsert that counts one try on each key, atomically (RETURNING left to the
    caller). On PostgreSQL the try's weight is computed in the statement from the
    match (`m`): 0 for a right answer, 1 for a wrong one, and the key
    `skip_on_match` is left alone (not locked) on a right answer; on SQLite the
    weight is the first parameter."""
    sql = _counted_text(len(keys), connection.vendor, skip_on_match=bool(skip_on_match))
    return sql, _counted_params(keys, _limits(), timezone.now(), skip_on_match=skip_on_match)


@functools.lru_cache(maxsize=16)
def _counted_text(n_keys: int, vendor: str, *, skip_on_match: bool) -> str:
    """The SQL of `_counted` for `n_keys` keys on `vendor`."""
    table = LookupCounter._meta.db_table
    if vendor == "postgresql":
        weight = "(CASE WHEN EXISTS (SELECT 1 FROM m) THEN 0 ELSE 1 END)"
        cast = "::timestamptz"
    else:
        weight, cast = "w.weight", ""
    rows = ", ".join([f"(%s, %s{cast})"] * n_keys)
    where = "(v.key <> %s OR NOT EXISTS (SELECT 1 FROM m))" if skip_on_match else "true"
    source = f"(VALUES {rows}) v(key, expires_at)"
    if vendor != "postgresql":  # SQLite: no column list on a VALUES alias
        source = (
            "(SELECT %s AS weight) w,"  # noqa: S608
            f" (SELECT column1 AS key, column2 AS expires_at FROM (VALUES {rows})) v"
        )
    return f"""
      INSERT INTO {table} AS lc (key, tries, expires_at)
      SELECT v.key, {weight}, v.expires_at FROM {source} WHERE {where}
      ON CONFLICT (key) DO UPDATE SET
        tries = CASE WHEN lc.expires_at <= %s THEN excluded.tries
                     ELSE lc.tries + excluded.tries END,
        expires_at = CASE WHEN lc.expires_at <= %s THEN excluded.expires_at
                          ELSE lc.expires_at END
    """  # noqa: S608 — only the table name and placeholders are interpolated


def _counted_params(
    keys: dict[str, str],
    limits: dict[str, tuple[int, int]],
    now: dt.datetime,
    *,
    skip_on_match: str = "",
) -> list[Any]:
    """The parameters of `_counted_text`, in order."""
    adapt = connection.ops.adapt_datetimefield_value
    stamp = adapt(now)
    values: list[Any] = []
    for prefix, key in keys.items():
        values += [key, adapt(now + dt.timedelta(minutes=limits[prefix][1]))]
    if skip_on_match:
        values.append(skip_on_match)
    return [*values, stamp, stamp]


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
