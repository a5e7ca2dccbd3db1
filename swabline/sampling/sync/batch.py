"""A synced batch's usual case in one database call.

A station back online sends what it captured: tubes opened and people scanned
into them, in its own order. When every event of such a batch will be applied,
`play` writes the lot with one call of the PostgreSQL function
`sampling_play_batch` (migration 0013), which checks the engine's rules for the
whole batch at once under the tubes' locks and writes the same rows. It answers
None, having written nothing, for anything else, and the engine then plays the
batch with everything read, so every other fate stays the engine's:

- not PostgreSQL, or the setting `SAMPLING_ONE_CALL_BATCH` is False (default True);
- an event other than `open_tube` (pool or individual, as the campaign allows)
  and a plain `add_person` (normal kind, no override, no settled conflict, our QR,
  a typed person code or a public id), a repeated event id, a clock out of range,
  no tube, a closed campaign;
- a scan naming nobody, a merged-away record (the engine finds the survivor);
- in the database: a replayed event, a tube already known (for an open) or unknown,
  closed, full or at another site (for a scan), a label refused or issued to
  another site, a person already sampled or named twice, a unique key or a
  trigger refusing the write (a concurrent batch won).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from swabline.campaigns.enums import CampaignStatus, TestType
from swabline.campaigns.models import Site
from swabline.sampling import bulk, scans
from swabline.sampling.codes import display_name
from swabline.sampling.enums import EventType, Fate, SampleKind, TubeKind, TubeStatus
from swabline.sampling.messages import Reason
from swabline.sampling.models import SamplingSettings
from swabline.sampling.sync.events import CLOCK_AHEAD, EventIn, EventResult, PersonBrief, TubeBrief

# Each array goes as one text, its items joined by the unit separator (psycopg
# quotes a list item by item in Python: 25 ms of a 500-event batch); "" is NULL in
# the columns that have NULLs, an empty string in the others.
_SEP = "\x1f"
_CALL = (
    "SELECT sampling_play_batch(%s, %s, %s, %s, %s, %s, %s, %s,"
    " string_to_array(%s, chr(31))::uuid[], string_to_array(%s, chr(31))::varchar[],"
    " string_to_array(%s, chr(31))::varchar[], string_to_array(%s, chr(31))::varchar[],"
    " string_to_array(%s, chr(31), '')::bigint[], string_to_array(%s, chr(31), '')::varchar[],"
    " string_to_array(%s, chr(31), '')::integer[], string_to_array(%s, chr(31))::varchar[],"
    " string_to_array(%s, chr(31))::timestamptz[], string_to_array(%s, chr(31), '')::integer[],"
    " string_to_array(%s, chr(31))::boolean[])"
)
_FOUND_BY = frozenset({"qr_token", "public_id", "code"})
_OPEN_KINDS = frozenset({"", TubeKind.POOL, TubeKind.INDIVIDUAL})
_ADD_KINDS = frozenset({"", SampleKind.NORMAL})
_ADD, _OPEN = EventType.ADD_PERSON.value, EventType.OPEN_TUBE.value


def eligible(events: Sequence[EventIn], site: Site, now: dt.datetime) -> bool:
    """Whether the batch may be offered to the database function at all (no
    database needed): only opens and plain scans, each id once, clocks in range."""
    if len(events) < 2 or connection.vendor != "postgresql":
        return False
    if not getattr(settings, "SAMPLING_ONE_CALL_BATCH", True):
        return False
    campaign = site.campaign
    if campaign.status == CampaignStatus.CLOSED:
        return False
    pooled = campaign.test_type == TestType.RT_PCR_POOLED
    earliest = timezone.make_aware(
        dt.datetime.combine(campaign.starts_on - CLOCK_AHEAD, dt.time.min)
    )
    latest = now + CLOCK_AHEAD
    for event in events:
        if not event.tube or event.override or event.resolves or event.reason:
            return False
        if event.at > latest or event.at < earliest:
            return False
        if event.type == _ADD:
            if event.kind not in _ADD_KINDS or not (event.scan or event.person):
                return False
        elif event.type == _OPEN:
            if event.kind not in _OPEN_KINDS:
                return False
            if event.kind != TubeKind.INDIVIDUAL and not pooled:
                return False
        else:
            return False
    return len({event.id for event in events}) == len(events)


def play(
    *,
    by: Any,
    site: Site,
    device_id: str,
    events: Sequence[EventIn],
    now: dt.datetime,
    after: Callable[[], None],
) -> list[EventResult] | None:
    """Every event of `events` (in the station's order) applied and written, with
    `after` run in the same transaction; or None, with nothing written."""
    keys: list[tuple[str, str] | None] = []
    scan_kinds: list[str | None] = []
    for event in events:
        if event.type != _ADD:
            keys.append(None)
            scan_kinds.append(None)
        elif event.person:
            keys.append(("public_id", event.person))
            scan_kinds.append(None)
        else:
            try:
                scanned = scans.classify(event.scan)
            except scans.ScanError:
                return None
            if scanned.field not in _FOUND_BY:
                return None  # a CCCD: the engine matches or registers its holder
            keys.append((scanned.field, scanned.value))
            scan_kinds.append(scanned.field)
    people = _people({key for key in keys if key is not None})
    if people is None:
        return None
    campaign = site.campaign
    opened = [event.tube for event in events if event.type == _OPEN]
    supplier = _supplier_check(campaign.pk) if opened else None
    persons: list[str] = []
    displays: list[str] = []
    years: list[str] = []
    for wanted in keys:
        if wanted is None:
            persons.append("")
            displays.append("")
            years.append("")
        else:
            row = people[wanted]
            persons.append(str(row[0]))
            displays.append(row[4])
            years.append(str(row[3]))
    tubes = [e.tube for e in events]
    if any(_SEP in text for text in (*tubes, *displays)):
        return None
    join = _SEP.join
    params = (
        site.pk, campaign.pk, site.province_code, campaign.pool_size_limit,
        by.pk, getattr(by, "username", "") or "", device_id, now,
        join([str(e.id) for e in events]), join([e.type for e in events]), join(tubes),
        join([e.kind for e in events]), join(persons), join(displays), join(years),
        join([kind or "" for kind in scan_kinds]),
        join([e.at.isoformat() for e in events]),
        join(["" if e.seq is None else str(e.seq) for e in events]),
        join(["t" if e.type == _OPEN and supplier is not None and supplier(e.tube) else "f"
              for e in events]),
    )  # fmt: skip
    try:
        with transaction.atomic():
            rows = bulk.select(_CALL, params)
            answer = rows[0][0] if rows else None
            if answer is None:
                return None
            after()
    except (IntegrityError, OperationalError):
        return None  # a concurrent batch changed what the checks read: the engine's turn
    return _results(events, keys, people, answer)


def _people(keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[Any, ...]] | None:
    """(id, public_id, full_name, birth_year, display name, brief) of the active person
    each key names, in one query; None when any key names nobody or a merged-away
    record."""
    if not keys:
        return {}
    by_field: dict[str, list[str]] = {}
    for field, value in keys:
        by_field.setdefault(field, []).append(value)
    conditions, params = [], []
    for field, values in by_field.items():
        condition, more = bulk.any_of(field, values, "text")
        conditions.append(condition)
        params += more
    fields = list(by_field)
    rows = bulk.select(
        f"SELECT id, public_id, full_name, birth_year, merged_into_id, {', '.join(fields)}"  # noqa: S608 (values are parameters)
        f" FROM people_person WHERE {' OR '.join(conditions)}",
        params,
    )
    found: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in rows:
        if row[4] is not None:
            continue
        display = display_name(row[2])
        person = (row[0], row[1], row[2], row[3], display, PersonBrief(row[1], display, row[3]))
        for field, value in zip(fields, row[5:], strict=True):
            found[(field, value)] = person
    if any(key not in found for key in keys):
        return None
    return found


def _supplier_check(campaign_id: int) -> Callable[[str], bool] | None:
    """Whether the campaign's supplier label pattern accepts a code (a label row, if
    the code has one, decides first: the database function reads those)."""
    rows = bulk.select(
        "SELECT label_pattern FROM sampling_samplingsettings WHERE campaign_id = %s",
        [campaign_id],
    )
    if not rows or not rows[0][0]:
        return None
    return SamplingSettings(label_pattern=rows[0][0]).accepts_supplier_code


def _results(
    events: Sequence[EventIn],
    keys: list[tuple[str, str] | None],
    people: dict[tuple[str, str], tuple[Any, ...]],
    answer: list[int],
) -> list[EventResult]:
    """Each event's result as the engine answers an applied open or scan."""
    count = len(events)
    applied, full_closed = Fate.APPLIED, Reason.TUBE_FULL_CLOSED
    is_open, is_closed = TubeStatus.OPEN, TubeStatus.CLOSED
    results = []
    for event, key, place, limit in zip(events, keys, answer[:count], answer[count:], strict=True):
        if key is None:  # an open
            opened = EventResult(
                event.id, event.type, applied, "", {"tube": event.tube, "limit": limit},
                None, TubeBrief(event.tube, 0, limit, is_open),
            )  # fmt: skip
            results.append(opened)
            continue
        person_id, _, _, year, display, brief = people[key]
        full = place == limit
        result = EventResult(
            event.id, event.type, applied, full_closed if full else "",
            {"count": place, "limit": limit, "person": display, "birth_year": year},
            brief, TubeBrief(event.tube, place, limit, is_closed if full else is_open),
        )  # fmt: skip
        result.person_id = person_id
        results.append(result)
    return results
