"""Reads for the look-up: who matches what the citizen typed, what happened to them
(one round trip per kind of fact, all by indexed keys), and which people are locked.

The citizen side is unscoped on purpose (the identifier and the date of birth are
the credentials); the staff side (`lock_states`) is given people already scoped by
`swabline.people.queries.find_people`.
"""

from __future__ import annotations

import datetime as dt
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


_PERSON = (
    "p.id, p.public_id, p.full_name, p.code, p.birth_date, p.birth_year, p.created_at, p.ward_id"
)


def _date(value: Any) -> dt.date | None:
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
        int(row[0]), row[1], row[2], row[3], _date(row[4]), int(row[5]), _when(row[6]), row[7]
    )


def matching_people(identifier: Identifier, birth: Birth) -> list[PersonRow]:
    """Active people with this identifier *and* this date of birth (one indexed query).

    Someone registered with the year alone matches on the year. Unknown identifier
    and wrong date both give an empty list through the same query, so the two cost
    the same.
    """
    column = _COLUMN[identifier.kind]
    params: list[Any] = [identifier.value]
    if birth.date is not None:
        born = "(p.birth_date = %s OR (p.birth_date IS NULL AND p.birth_year = %s))"
        params += [connection.ops.adapt_datefield_value(birth.date), birth.year]
    else:
        born = "(p.birth_date IS NULL AND p.birth_year = %s)"
        params += [birth.year]
    sql = (
        f"SELECT {_PERSON} FROM people_person p WHERE p.{column} = %s"  # noqa: S608 — constant
        f" AND p.merged_into_id IS NULL AND {born} ORDER BY p.is_household_head DESC, p.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_person(r) for r in cursor.fetchall()]


def people_by_ids(ids: Iterable[int]) -> list[PersonRow]:
    """The (still active) people of a grant, head of household first."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    condition, params = ids_condition("p.id", wanted)
    sql = (
        f"SELECT {_PERSON} FROM people_person p WHERE {condition}"  # noqa: S608 — constant
        " AND p.merged_into_id IS NULL ORDER BY p.is_household_head DESC, p.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_person(r) for r in cursor.fetchall()]


def facts(people: Sequence[PersonRow]) -> Facts:
    """Everything the timeline shows for `people`: three indexed queries."""
    if not people:
        return Facts([], [], [])
    ids = [p.id for p in people]
    return Facts(_samples(ids), _outcomes(ids), _sites(ids))


def _samples(ids: list[int]) -> list[SampleRow]:
    condition, params = ids_condition("s.person_id", ids)
    sql = f"""
      SELECT s.person_id, s.campaign_id, c.name, c.starts_on, s.id, s.kind, s.collected_at,
        t.kind, t.status, site.name, site.address,
        (SELECT MIN(x.received_at) FROM shipping_shipmenttube x WHERE x.tube_id = t.id),
        r.value, r.released_at
      FROM sampling_sample s
      JOIN sampling_tube t ON t.id = s.tube_id
      JOIN campaigns_site site ON site.id = t.site_id
      JOIN campaigns_campaign c ON c.id = s.campaign_id
      LEFT JOIN labs_tuberesult r ON r.tube_id = t.id AND r.current = %s AND r.state = %s
      WHERE {condition} AND s.active = %s
      ORDER BY s.collected_at, s.id
    """  # noqa: S608 — only constants are interpolated
    with connection.cursor() as cursor:
        cursor.execute(sql, [True, ResultState.RELEASED, *params, True])
        rows = cursor.fetchall()
    return [SampleRow(*_typed(r, dates=(3,), times=(6, 11, 13))) for r in rows]


def _outcomes(ids: list[int]) -> list[OutcomeRow]:
    condition, params = ids_condition("o.person_id", ids)
    sql = f"""
      SELECT o.person_id, o.campaign_id, c.name, c.starts_on, o.id, o.state, o.sample_id,
        o.decided_at, o.result_id, o.release_id, site.name, site.address
      FROM results_outcome o
      JOIN campaigns_campaign c ON c.id = o.campaign_id
      JOIN sampling_tube t ON t.id = o.tube_id
      JOIN campaigns_site site ON site.id = t.site_id
      WHERE {condition} AND o.current = %s
    """  # noqa: S608 — only constants are interpolated
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, True])
        rows = cursor.fetchall()
    return [OutcomeRow(*_typed(r, dates=(3,), times=(7,))) for r in rows]


def _sites(ids: list[int]) -> list[SiteRow]:
    condition, params = ids_condition("p.id", ids)
    sql = f"""
      SELECT p.id, c.id, c.name, c.starts_on, c.status, site.name, site.address
      FROM people_person p
      JOIN campaigns_site site ON site.ward_id = p.ward_id
      JOIN campaigns_campaign c ON c.id = site.campaign_id
      WHERE {condition} AND c.status IN (%s, %s)
      ORDER BY site.name
    """  # noqa: S608 — only constants are interpolated
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, CampaignStatus.PLANNED, CampaignStatus.ACTIVE])
        rows = cursor.fetchall()
    return [SiteRow(*_typed(r, dates=(3,))) for r in rows]


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
