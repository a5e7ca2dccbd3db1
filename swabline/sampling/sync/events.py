"""What goes into the sync engine and what comes out: events, results, briefs."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from swabline.sampling import messages, scans
from swabline.sampling.codes import display_name
from swabline.sampling.enums import EventType, Fate, SampleKind, TubeKind
from swabline.sampling.messages import Reason

MAX_EVENTS = 1000
CLOCK_AHEAD = dt.timedelta(days=1)
ATTEMPTS = 3
# A device's last sync is written at most this often (per server process), unless
# its conflicts changed: a station syncing every scan would otherwise turn each
# scan into one more write.
DEVICE_TOUCH_SECONDS = 30.0
# Conflicts that depend on what has not arrived yet: answered but not recorded, so
# the station keeps the event and sends it again (e.g. after its tube's open_tube).
TRANSIENT = frozenset({Reason.TUBE_UNKNOWN, Reason.RETRY})
TUBE_EVENTS = frozenset(
    {EventType.ADD_PERSON, EventType.REMOVE_LAST, EventType.CLOSE_TUBE, EventType.VOID_TUBE}
)
CLOSED_TO_CAPTURE = frozenset({EventType.OPEN_TUBE, EventType.ADD_PERSON})
TUBE_KINDS = frozenset(TubeKind.values)
SAMPLE_KINDS = frozenset(SampleKind.values)


@dataclass(frozen=True, slots=True)
class EventIn:
    """One capture event as a station sends it (see the API contract)."""

    id: uuid.UUID
    type: str
    at: dt.datetime
    tube: str = ""
    scan: str = ""
    person: str = ""  # a person's public_id, instead of a scan
    kind: str = ""  # open_tube: pool|individual; add_person: normal|recall|recollect
    override: bool = False
    reason: str = ""
    seq: int | None = None
    resolves: uuid.UUID | None = None  # an earlier conflicted event this one settles


@dataclass(frozen=True, slots=True)
class PersonBrief:
    public_id: str
    display: str
    birth_year: int


@dataclass(frozen=True, slots=True)
class TubeBrief:
    code: str
    count: int
    limit: int
    status: str


@dataclass(slots=True)
class EventResult:
    """An event's fate. `message` is rendered in the active language when read."""

    id: uuid.UUID
    type: str
    fate: str
    reason: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    person: PersonBrief | None = None
    tube: TubeBrief | None = None
    # For a replayed event (fate duplicate, reason "replayed"): its first fate.
    first_fate: str | None = None
    first_reason: str | None = None
    person_id: int | None = None

    @property
    def warnings(self) -> list[str]:
        """Notices on an applied event (e.g. "override", "tube_full_closed")."""
        return [self.reason] if self.fate == Fate.APPLIED and self.reason else []

    @property
    def message(self) -> str:
        if self.reason == Reason.REPLAYED and self.first_fate is not None:
            return messages.render(self.type, self.first_fate, self.first_reason or "", self.params)
        return messages.render(self.type, self.fate, self.reason, self.params)


def outcome(
    event: EventIn,
    fate: str,
    reason: str,
    person: scans.PersonRow | None = None,
    **params: Any,
) -> EventResult:
    result = EventResult(event.id, event.type, fate, reason, params)
    if person is not None:
        result.person_id = person.id
        result.person = brief(person)
        params.setdefault("person", result.person.display)
        params.setdefault("birth_year", person.birth_year)
    return result


def applied(
    event: EventIn, notice: str, person: scans.PersonRow | None = None, **params: Any
) -> EventResult:
    return outcome(event, Fate.APPLIED, notice, person, **params)


def conflict(
    event: EventIn, reason: str, person: scans.PersonRow | None = None, **params: Any
) -> EventResult:
    return outcome(event, Fate.CONFLICT, reason, person, **params)


def brief(person: scans.PersonRow) -> PersonBrief:
    return PersonBrief(person.public_id, display_name(person.full_name), person.birth_year)


def payload_extras(event: EventIn, scan_kind: str | None) -> dict[str, Any]:
    """What the event log keeps of an event besides its result's params: never the
    scanned text, only which kind of key it was (`scan_kind`)."""
    payload: dict[str, Any] = {}
    if event.seq is not None:
        payload["seq"] = event.seq
    for name in ("kind", "reason"):
        if getattr(event, name):
            payload[name] = getattr(event, name)
    if event.override:
        payload["override"] = True
    if event.resolves:
        payload["resolves"] = str(event.resolves)
    if scan_kind is not None:
        payload["scan"] = scan_kind
    return payload


def plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, int | float | bool) else str(v) for k, v in params.items()}
