"""Applying station capture events: each once, in the station's order, each with a fate.

One run takes a batch of events for one site and:

1. locks the batch's existing tubes (`SELECT … FOR UPDATE`, in code order, so two
   runs over the same tubes never deadlock on them), then reads which event ids
   were already applied, who the scans name, the active samples of those tubes
   and people, and the labels being opened — a handful of queries per batch,
   whatever its size;
2. plays the events in memory in the station's order (its `seq` when every event
   has one, else its clock), each getting a fate: applied, duplicate (nothing to
   do: a replayed event, a person already in the tube, a tube already closed) or
   conflict (with a reason, recorded for the site view: nothing is dropped);
3. writes the outcome with set-based statements: new tubes, removed samples, new
   samples, tube counts and statuses, the event log, audit events.

The database has the last word: its constraints and triggers (see models.py)
reject what a concurrent run made impossible. Then the batch is played again from
fresh reads (the other run has committed by the time the error is raised), and
after a few attempts event by event, each in its own savepoint; an event that
still cannot be settled is answered `conflict`/`retry` without being recorded, so
the station sends it again.

A lone plain scan (the online station's every request) first tries `quick`: on
PostgreSQL the usual case is one person lookup and one call of the database
function `sampling_add_scanned`, outside any transaction, writing the same rows as
a run would. A batch of only opens and plain scans (a station's outbox) first tries
`batch`: one person lookup and one call of `sampling_play_batch`, which writes the
batch when every event would be applied. Anything else is handed to a run as above.

Adding a person normally writes no audit event: the sample row (who, when, from
which event) and the event log are that record. Everything else that changes a
tube or undoes a sample (open, close, cancel, remove, override) is audited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from swabline.campaigns.models import Site
from swabline.sampling.codes import normalize_tube_code
from swabline.sampling.enums import EventType, Fate, SampleKind
from swabline.sampling.messages import Reason
from swabline.sampling.models import DeviceSync, StationEvent
from swabline.sampling.sync import batch, quick
from swabline.sampling.sync.events import (
    ATTEMPTS,
    DEVICE_TOUCH_SECONDS,
    MAX_EVENTS,
    TRANSIENT,
    EventIn,
    EventResult,
    PersonBrief,
    TubeBrief,
)
from swabline.sampling.sync.loading import Loading
from swabline.sampling.sync.playing import Playing, recall_listed
from swabline.sampling.sync.writing import Writing

__all__ = [
    "MAX_EVENTS",
    "TRANSIENT",
    "EventIn",
    "EventResult",
    "PersonBrief",
    "TubeBrief",
    "apply",
    "recall_listed",
    "station_order",
]

log = logging.getLogger(__name__)


class Run(Loading, Playing, Writing):
    """One attempt at a batch: load, play, write. Must run inside a transaction."""


def apply(
    *, by: Any, site: Site, device_id: str, events: Sequence[EventIn], now: dt.datetime
) -> list[EventResult]:
    """Apply `events` (the caller checked the permission) and record the device's
    sync; results in the order of `events`. Runs its own transaction, or a
    savepoint inside the caller's."""
    order = station_order(events)
    codes: dict[str, str] = {}  # a batch names each tube ~10 times: normalized once
    ordered = [_normalized(events[i], codes) for i in order]
    if (
        len(ordered) == 1
        and quick.eligible(ordered[0], site, now)
        and not _touch_due(by=by, site=site, device_id=device_id)
    ):
        # The online station's lone scan: one database call when it is the usual case.
        done = quick.add_scanned(by=by, site=site, device_id=device_id, event=ordered[0], now=now)
        if done is not None:
            return [done]
    played: list[EventResult] | None = None
    if batch.eligible(ordered, site, now):
        # A station's outbox of opens and plain scans: one database call when all apply.
        played = batch.play(
            by=by, site=site, device_id=device_id, events=ordered, now=now,
            after=lambda: _touch_device(
                by=by, site=site, device_id=device_id, now=now, recount=False
            ),
        )  # fmt: skip
    if played is None:
        played = _attempt(
            by=by, site=site, device_id=device_id, events=ordered, now=now, touch=True
        )
    if played is None:
        played = [
            _one_by_one(by=by, site=site, device_id=device_id, event=e, now=now) for e in ordered
        ]
        with transaction.atomic():
            _touch_device(by=by, site=site, device_id=device_id, now=now, recount=True)
    results: list[EventResult | None] = [None] * len(events)
    for index, result in zip(order, played, strict=True):
        results[index] = result
    return [r for r in results if r is not None]


def station_order(events: Sequence[EventIn]) -> list[int]:
    """The indexes of `events` in the station's order: its sequence numbers when every
    event has one, else its clock (then the sequence number, then the order sent)."""
    if all(e.seq is not None for e in events):
        return sorted(range(len(events)), key=lambda i: (events[i].seq, i))
    return sorted(range(len(events)), key=lambda i: (events[i].at, events[i].seq or 0, i))


def _attempt(
    *,
    by: Any,
    site: Site,
    device_id: str,
    events: Sequence[EventIn],
    now: dt.datetime,
    touch: bool = False,
) -> list[EventResult] | None:
    lean = lean_enough(events)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                run = Run(
                    by=by, site=site, device_id=device_id, events=events, now=now,
                    lean=lean and attempt == 1,
                )  # fmt: skip
                run.load()
                results = run.play()
                run.write()
                if touch:
                    recount = bool(run.resolved) or any(
                        r.fate == Fate.CONFLICT and r.reason not in TRANSIENT for r in results
                    )
                    _touch_device(by=by, site=site, device_id=device_id, now=now, recount=recount)
                return results
        except (IntegrityError, OperationalError) as exc:
            # A concurrent run changed what this one read; it has committed by now.
            log.info(
                "station batch played again from fresh reads",
                extra={"attempt": attempt, "events": len(events), "error": type(exc).__name__},
            )
    return None


def lean_enough(events: Sequence[EventIn]) -> bool:
    """Whether a batch is one plain scan (the online station's every request): it can
    skip reading the event log and the samples, because a replay, a person already
    in a tube and a full tube all break a unique key or a check when written, and
    the scan is then played again with everything read."""
    if len(events) != 1:
        return False
    event = events[0]
    plain = event.kind in ("", SampleKind.NORMAL) and not event.override and not event.resolves
    return event.type == EventType.ADD_PERSON and plain


def _one_by_one(
    *, by: Any, site: Site, device_id: str, event: EventIn, now: dt.datetime
) -> EventResult:
    results = _attempt(by=by, site=site, device_id=device_id, events=[event], now=now)
    if results is not None:
        return results[0]
    log.warning("station event left for the station to resend", extra={"event": str(event.id)})
    return EventResult(event.id, event.type, Fate.CONFLICT, Reason.RETRY)


_touched: dict[tuple[str, int, int], float] = {}


def _touch_due(*, by: Any, site: Site, device_id: str) -> bool:
    """Whether an applied event would write the device's last sync now."""
    if not device_id:
        return False
    last = _touched.get((device_id, by.pk, site.pk))
    return last is None or time.monotonic() - last >= DEVICE_TOUCH_SECONDS


def _touch_device(*, by: Any, site: Site, device_id: str, now: dt.datetime, recount: bool) -> None:
    """Record the device's sync for the site view (throttled; see DEVICE_TOUCH_SECONDS)."""
    if not device_id:
        return
    key = (device_id, by.pk, site.pk)
    last = _touched.get(key)
    if not recount and last is not None and time.monotonic() - last < DEVICE_TOUCH_SECONDS:
        return
    values: dict[str, Any] = {"user_id": by.pk, "site_id": site.pk, "last_sync_at": now}
    if recount or last is None:
        values["pending_conflicts"] = StationEvent.objects.filter(
            site_id=site.pk, device_id=device_id, fate=Fate.CONFLICT, resolved_at__isnull=True
        ).count()
    if not DeviceSync.objects.filter(device_id=device_id).update(**values):
        try:
            with transaction.atomic():
                DeviceSync.objects.create(device_id=device_id, **values)
        except IntegrityError:
            DeviceSync.objects.filter(device_id=device_id).update(**values)
    if len(_touched) > 10_000:  # a server process outliving many devices
        _touched.clear()
    transaction.on_commit(lambda: _touched.__setitem__(key, time.monotonic()))


def _normalized(event: EventIn, codes: dict[str, str]) -> EventIn:
    """The event with its tube code as stored, an aware time and a trimmed person id
    (`codes`: tube codes already normalized, as sent → as stored)."""
    at = event.at if event.at.tzinfo is not None else timezone.make_aware(event.at)
    tube = codes.get(event.tube)
    if tube is None:
        tube = codes[event.tube] = normalize_tube_code(event.tube)
    person = event.person.strip()
    if (tube, at, person) == (event.tube, event.at, event.person):
        return event  # the usual case: a station sends them so
    return dataclasses.replace(event, tube=tube, at=at, person=person)
