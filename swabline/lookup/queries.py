"""Reads for the look-up: who matches what the citizen typed, what happened to them
(one round trip per kind of fact, all by indexed keys), and which people are locked.

The citizen side is unscoped on purpose (the identifier and the date of birth are
the credentials); the staff side (`lock_states`) is given people already scoped by
`swabline.people.queries.find_people`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from swabline.campaigns.enums import CampaignStatus
from swabline.labs.enums import ResultState
from swabline.lookup.identifiers import Birth, Identifier, counter_key
from swabline.lookup.models import LookupCounter
from swabline.people.models import Person
from swabline.results.logic import ids_condition
from swabline.sampling import bulk

_COLUMN = {"code": "code", "cccd": "national_id", "phone": "phone"}


@dataclass(frozen=True)
class PersonRow:
    id: int
    public_id: str
    full_name: str
    code: str
    birth_date: dt.date | None
    birth_year: int
    created_at: dt.datetime
    ward_id: int
    is_head: bool


@dataclass(frozen=True)
class SampleRow:
    person_id: int
    campaign_id: int
    campaign_name: str
    starts_on: dt.date
    sample_id: int
    sample_kind: str
    collected_at: dt.datetime
    tube_kind: str
    tube_status: str
    site_name: str
    site_address: str
    at_lab: dt.datetime | None
    result_value: str | None
    released_at: dt.datetime | None


@dataclass(frozen=True)
class OutcomeRow:
    person_id: int
    campaign_id: int
    campaign_name: str
    starts_on: dt.date
    outcome_id: int
    state: str
    sample_id: int
    decided_at: dt.datetime
    result_id: int | None
    release_id: int | None
    site_name: str
    site_address: str


@dataclass(frozen=True)
class SiteRow:
    """A site of a campaign in a person's ward (where to go, and the campaigns that
    concern someone not sampled yet)."""

    person_id: int
    campaign_id: int
    campaign_name: str
    starts_on: dt.date
    campaign_status: str
    site_name: str
    site_address: str


@dataclass(frozen=True)
class Facts:
    samples: list[SampleRow]
    outcomes: list[OutcomeRow]
    sites: list[SiteRow]


PERSON_COLUMNS = (
    "id", "public_id", "full_name", "code", "birth_date", "birth_year", "created_at",
    "ward_id", "is_household_head",
)  # fmt: skip
_PERSON = (
    "p.id, p.public_id, p.full_name, p.code, p.birth_date, p.birth_year, p.created_at,"
    " p.ward_id, p.is_household_head"
)


def _date(value: Any) -> Any:
    """A date column read by a raw cursor (SQLite gives text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _when(value: Any) -> Any:
    """A datetime column read by a raw cursor: aware UTC on both databases."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    return value


def _typed(
    row: Sequence[Any], *, dates: tuple[int, ...] = (), times: tuple[int, ...] = ()
) -> list[Any]:
    """A raw row with its date and datetime columns as Python values on both databases."""
    values = list(row)
    for i in dates:
        values[i] = _date(values[i])
    for i in times:
        values[i] = _when(values[i])
    return values


def _person(row: Sequence[Any]) -> PersonRow:
    return PersonRow(
        int(row[0]), row[1], row[2], row[3], _date(row[4]), int(row[5]), _when(row[6]), row[7],
        bool(row[8]),
    )  # fmt: skip


def select(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of a raw statement. On PostgreSQL the parameters are bound by the server
    and the statement is prepared there (planned once per connection instead of on
    every request: planning the look-up's statement cost more than running it).

    Django's connection makes client-binding cursors (values quoted into the SQL
    text, never prepared) and turns psycopg's preparing off for the whole
    connection (for transaction-mode poolers): this uses psycopg's own cursor and
    turns preparing on around these statements only. `LOOKUP_PREPARED_STATEMENTS=0`
    turns it off (a pooler in transaction mode without prepared-statement support).
    """
    return bulk.select(sql, params, prepare=bool(settings.LOOKUP_PREPARED_STATEMENTS))


def matching_sql(identifier: Identifier, birth: Birth) -> tuple[str, list[Any]]:
    """SELECT of the active people with this identifier *and* this date of birth
    (one indexed probe: the code, CCCD or phone index), head of household first.

    Someone registered with the year alone matches on the year. An unknown
    identifier and a wrong date both select nothing, through the same plan, so
    the two cost the same.
    """
    text = matching_text(identifier.kind, birth.date is not None)
    return text, matching_params(identifier, birth)


@functools.cache
def matching_text(kind: str, full_date: bool) -> str:
    """The SQL of `matching_sql` for an identifier kind, with a full date or a year."""
    if full_date:
        born = "(p.birth_date = %s OR (p.birth_date IS NULL AND p.birth_year = %s))"
    else:
        born = "(p.birth_date IS NULL AND p.birth_year = %s)"
    return (
        f"SELECT {_PERSON} FROM people_person p WHERE p.{_COLUMN[kind]} = %s"  # noqa: S608 — constant
        f" AND p.merged_into_id IS NULL AND {born}"
    )


def matching_params(identifier: Identifier, birth: Birth) -> list[Any]:
    """The parameters of `matching_text`, in order."""
    if birth.date is not None:
        return [identifier.value, connection.ops.adapt_datefield_value(birth.date), birth.year]
    return [identifier.value, birth.year]


def matching_people(identifier: Identifier, birth: Birth) -> list[PersonRow]:
    """The people `matching_sql` selects."""
    sql, params = matching_sql(identifier, birth)
    return [_person(r) for r in select(f"{sql} {_HEAD_FIRST}", params)]


_HEAD_FIRST = "ORDER BY p.is_household_head DESC, p.id"


def person_rows(rows: Iterable[Sequence[Any]]) -> list[PersonRow]:
    return [_person(r) for r in rows]


def people_by_ids(ids: Iterable[int]) -> list[PersonRow]:
    """The (still active) people of a grant, head of household first."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    condition, params = ids_condition("p.id", wanted)
    sql = (
        f"SELECT {_PERSON} FROM people_person p WHERE {condition}"  # noqa: S608 — constant
        f" AND p.merged_into_id IS NULL {_HEAD_FIRST}"
    )
    return [_person(r) for r in select(sql, params)]


def facts(people: Sequence[PersonRow]) -> Facts:
    """Everything the timeline shows for `people`, in one query (`facts_sql`)."""
    if not people:
        return Facts([], [], [])
    ids = [p.id for p in people]
    parts = [ids_condition(column, ids) for column in ("s.person_id", "o.person_id", "p.id")]
    sql = facts_sql(*(condition for condition, _ in parts)) + " ORDER BY 1, 8, 6, 11"
    return facts_from_rows(select(sql, [p for _, params in parts for p in params]))


FACT_COLUMNS = (
    "tag", "person_id", "campaign_id", "campaign_name", "starts_on", "id", "kind", "at",
    "tube_kind", "tube_status", "site_name", "site_address", "at_lab", "result_value",
    "released_at", "sample_id", "result_id", "release_id",
)  # fmt: skip


def facts_sql(samples: str, outcomes: str, sites: str) -> str:
    """One query of three indexed parts, for the people the three conditions name
    (on `s.person_id`, `o.person_id`, `p.id`): their active samples (with tube,
    site, lab receipt and released result), their current outcomes, and the open
    campaigns' sites in their wards. Columns: FACT_COLUMNS.

    Constants are written into the SQL: a parameter there would keep a prepared
    (generic) plan off the partial indexes (current outcome, active samples).
    """
    names = iter(FACT_COLUMNS)
    first = ", ".join(
        f"{expr} AS {next(names)}"
        for expr in (
            "'s'", "s.person_id", "s.campaign_id", "c.name", "c.starts_on", "s.id", "s.kind",
            "s.collected_at", "t.kind", "t.status", "site.name", "site.address",
            "(SELECT MIN(x.received_at) FROM shipping_shipmenttube x WHERE x.tube_id = t.id)",
            "r.value", "r.released_at", "NULL", "NULL", "NULL",
        )
    )  # fmt: skip
    return f"""
      SELECT {first}
      FROM sampling_sample s
      JOIN sampling_tube t ON t.id = s.tube_id
      JOIN campaigns_site site ON site.id = t.site_id
      JOIN campaigns_campaign c ON c.id = s.campaign_id
      LEFT JOIN labs_tuberesult r ON r.tube_id = t.id AND r.current
        AND r.state = '{ResultState.RELEASED.value}'
      WHERE {samples} AND s.active
      UNION ALL
      SELECT 'o', o.person_id, o.campaign_id, c.name, c.starts_on, o.id, o.state, o.decided_at,
        NULL, NULL, site.name, site.address, NULL, NULL, NULL,
        o.sample_id, o.result_id, o.release_id
      FROM results_outcome o
      JOIN campaigns_campaign c ON c.id = o.campaign_id
      JOIN sampling_tube t ON t.id = o.tube_id
      JOIN campaigns_site site ON site.id = t.site_id
      WHERE {outcomes} AND o.current
      UNION ALL
      SELECT 'w', p.id, c.id, c.name, c.starts_on, NULL, c.status, NULL,
        NULL, NULL, site.name, site.address, NULL, NULL, NULL, NULL, NULL, NULL
      FROM people_person p
      JOIN campaigns_site site ON site.ward_id = p.ward_id
      JOIN campaigns_campaign c ON c.id = site.campaign_id
      WHERE {sites}
        AND c.status IN ('{CampaignStatus.PLANNED.value}', '{CampaignStatus.ACTIVE.value}')
    """  # noqa: S608 — only constants and conditions built here are interpolated


def facts_from_rows(rows: Iterable[Sequence[Any]]) -> Facts:
    """Facts from rows in FACT_COLUMNS order (tuples, or JSON objects' values)."""
    found = Facts([], [], [])
    for r in rows:
        if r[0] == "s":
            found.samples.append(SampleRow(*_typed(r[1:15], dates=(3,), times=(6, 11, 13))))
        elif r[0] == "o":
            o = _typed(r, dates=(4,), times=(7,))
            found.outcomes.append(
                OutcomeRow(
                    o[1], o[2], o[3], o[4], o[5], o[6], o[15], o[7], o[16], o[17], o[10], o[11]
                )
            )
        else:
            found.sites.append(SiteRow(r[1], r[2], r[3], _date(r[4]), r[6], r[10], r[11]))
    found.samples.sort(key=lambda s: (s.collected_at, s.sample_id))
    found.sites.sort(key=lambda s: s.site_name)
    return found


def identifiers_of(person: Person) -> list[Identifier]:
    """The identifiers a person can look up with (each has its own counters)."""
    found = [Identifier("code", person.code)]
    if person.national_id:
        found.append(Identifier("cccd", person.national_id))
    if person.phone:
        found.append(Identifier("phone", person.phone))
    return found


def lock_states(people: Iterable[Person]) -> dict[int, bool]:
    """Whether each person's look-up is locked now (by any of their identifiers),
    in one query over the counters."""
    people = list(people)
    keys: dict[str, list[int]] = {}
    for person in people:
        for ident in identifiers_of(person):
            keys.setdefault(ident.key("i"), []).append(person.pk)
            keys.setdefault(ident.key("d"), []).append(person.pk)
    locked = {p.pk: False for p in people}
    limits = {"i": settings.LOOKUP_MAX_FAILURES, "d": settings.LOOKUP_DAILY_MAX_FAILURES}
    rows = LookupCounter.objects.filter(key__in=list(keys), expires_at__gt=timezone.now())
    for key, tries in rows.values_list("key", "tries"):
        if tries >= limits[key[0]]:
            for pk in keys[key]:
                locked[pk] = True
    return locked


def client_key(address: str) -> str:
    return counter_key("c", address)
