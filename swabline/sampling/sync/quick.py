"""A lone scan in one database call: the online station's every request.

`add_scanned` plays the usual case of a single `add_person` event (a person
named by a scan goes into an open tube of this site, with room left) without the
engine's transaction: one query finds the person (`scans.lookup`, the engine's own
identity rules), then one call of the PostgreSQL function `sampling_add_scanned`
(migration 0004) checks and writes it all in autocommit. It answers None, having
written nothing, whenever the event is anything else; the engine then plays it
with everything read, so every rule and every fate stays the engine's:

- not PostgreSQL (SQLite plays every event through the engine), or the setting
  `SAMPLING_ONE_CALL_SCAN` is False (default True: a switch to turn this path off);
- not a plain add_person (kind, override, resolves), a clock out of range, a
  closed campaign, no tube, a scan naming nobody or a CCCD to register;
- the device's last sync is due to be written (`_touch_device`);
- in the database: tube unknown, at another site, not open or full; event id
  already logged; person already in the tube or sampled in the campaign; a unique
  key or trigger refusing the write (a concurrent scan won).
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from swabline.campaigns.enums import CampaignStatus
from swabline.campaigns.models import Site
from swabline.sampling import bulk, scans
from swabline.sampling.codes import display_name
from swabline.sampling.enums import EventType, Fate, SampleKind, TubeStatus
from swabline.sampling.messages import Reason
from swabline.sampling.sync.events import (
    CLOCK_AHEAD,
    EventIn,
    EventResult,
    PersonBrief,
    TubeBrief,
    payload_extras,
)

_CALL = "SELECT sampling_add_scanned(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"


def eligible(event: EventIn, site: Site, now: dt.datetime) -> bool:
    """Whether `event` may take the one-call path at all (no database needed)."""
    plain = event.kind in ("", SampleKind.NORMAL) and not event.override and not event.resolves
    campaign = site.campaign
    return (
        connection.vendor == "postgresql"
        and getattr(settings, "SAMPLING_ONE_CALL_SCAN", True)
        and event.type == EventType.ADD_PERSON
        and plain
        and bool(event.tube)
        and bool(event.scan or event.person)
        and campaign.status != CampaignStatus.CLOSED
        and event.at <= now + CLOCK_AHEAD
        and timezone.localdate(event.at) >= campaign.starts_on - CLOCK_AHEAD
    )


def add_scanned(
    *, by: Any, site: Site, device_id: str, event: EventIn, now: dt.datetime
) -> EventResult | None:
    """The applied result of `event`, written; or None, with nothing written."""
    if event.person:
        key, scan_kind = scans.ScanKey("public_id", event.person), None
    else:
        try:
            key = scans.classify(event.scan)
        except scans.ScanError:
            return None
        scan_kind = key.field
    person = scans.lookup([key]).get(key)
    if person is None:
        return None
    display = display_name(person.full_name)
    payload = json.dumps(payload_extras(event, scan_kind))
    params = (
        event.id, event.tube, site.pk, site.campaign_id, site.province_code,
        person.id, display, person.birth_year,
        by.pk, getattr(by, "username", "") or "", device_id,
        event.at, now, payload,
    )  # fmt: skip
    # Inside a caller's transaction an error must not break it: a savepoint then.
    # Alone (a request), the call is its own transaction: no BEGIN, no COMMIT.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            rows = bulk.select(_CALL, params)
    except (IntegrityError, OperationalError):
        return None
    done = rows[0][0] if rows else None
    if not done:
        return None
    position, limit = done
    closed = position == limit
    result = EventResult(
        event.id,
        event.type,
        Fate.APPLIED,
        Reason.TUBE_FULL_CLOSED if closed else "",
        {"count": position, "limit": limit, "person": display, "birth_year": person.birth_year},
        person=PersonBrief(person.public_id, display, person.birth_year),
        tube=TubeBrief(
            event.tube, position, limit, TubeStatus.CLOSED if closed else TubeStatus.OPEN
        ),
    )
    result.person_id = person.id
    return result
