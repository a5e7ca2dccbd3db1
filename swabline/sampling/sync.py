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

Adding a person normally writes no audit event: the sample row (who, when, from
which event) and the event log are that record. Everything else that changes a
tube or undoes a sample (open, close, cancel, remove, override) is audited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from swabline.audit.models import AuditEvent
from swabline.campaigns.enums import CampaignStatus, TestType
from swabline.campaigns.models import Campaign, Site
from swabline.sampling import bulk, messages, scans
from swabline.sampling.codes import (
    display_name,
    is_valid_damm,
    looks_generated,
    normalize_tube_code,
)
from swabline.sampling.enums import (
    ALLOWED_TRANSITIONS,
    EventType,
    Fate,
    SampleKind,
    TubeKind,
    TubeStatus,
)
from swabline.sampling.messages import Reason
from swabline.sampling.models import (
    DeviceSync,
    Sample,
    SamplingSettings,
    StationEvent,
    Tube,
    TubeLabel,
)

log = logging.getLogger(__name__)

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
_CLOSED_TO_CAPTURE = frozenset({EventType.OPEN_TUBE, EventType.ADD_PERSON})
_TUBE_KINDS = frozenset(TubeKind.values)
_SAMPLE_KINDS = frozenset(SampleKind.values)


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


# --- In-memory state of one run ---------------------------------------------------

_NO_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(slots=True)
class _NewSample:
    tube: _Tube
    person_id: int
    position: int
    kind: str
    event: EventIn
    removed_at: dt.datetime | None = None


@dataclass(slots=True)
class _Member:
    person_id: int
    position: int
    kind: str
    sample_id: int | None = None  # a stored row
    new: _NewSample | None = None  # a row this run inserts


@dataclass(slots=True)
class _Tube:
    code: str
    site_id: int
    campaign_id: int
    kind: str
    status: str
    pool_limit: int
    is_recall: bool
    members: list[_Member]
    id: int | None = None
    new: bool = False
    changed: bool = False
    closed_at: dt.datetime | None = None
    voided_reason: str = ""
    client_opened_at: dt.datetime = _NO_TIME

    def brief(self) -> TubeBrief:
        return TubeBrief(self.code, len(self.members), self.pool_limit, self.status)

    @property
    def pk(self) -> int:
        if self.id is None:
            raise AssertionError(f"tube {self.code} has no row yet")
        return self.id


@dataclass(slots=True)
class _Where:
    """Where a person's active normal sample of the campaign is."""

    tube_code: str
    site_id: int
    member: _Member | None  # set when the tube is part of this run


@dataclass(slots=True)
class _Audit:
    tube: _Tube
    action: str
    data: dict[str, Any]


class _Run:
    """One attempt at a batch: load, play, write. Must run inside a transaction."""

    def __init__(
        self, *, by: Any, site: Site, device_id: str, events: Sequence[EventIn], now: dt.datetime
    ) -> None:
        self.by = by
        self.site = site
        self.campaign: Campaign = site.campaign
        self.device_id = device_id
        self.events = events
        self.now = now
        self.tubes: dict[str, _Tube] = {}
        self.seen: dict[uuid.UUID, dict[str, Any]] = {}
        self.people: dict[uuid.UUID, scans.PersonRow | scans.ScanError] = {}
        self.scan_kinds: dict[uuid.UUID, str] = {}  # for the log: never the scanned text
        self.person_info: dict[int, scans.PersonRow] = {}
        self.active: dict[int, _Where] = {}
        self.site_names: dict[int, str] = {site.pk: site.name}
        self.labels: dict[str, dict[str, Any]] = {}
        self.settings: SamplingSettings | None = None
        self.new_samples: list[_NewSample] = []
        self.removed_ids: list[int] = []
        self.used_labels: list[str] = []
        self.to_record: list[EventIn] = []
        self.records: list[tuple[Any, ...]] = []
        self.audits: list[_Audit] = []
        self.resolved: list[uuid.UUID] = []
        self.results: dict[uuid.UUID, EventResult] = {}

    # --- loading ----------------------------------------------------------------

    def load(self) -> None:
        codes = {e.tube for e in self.events if e.tube}
        where, params = bulk.any_of("t.code", codes, "text")
        rows = bulk.select(
            "SELECT t.id, t.code, t.site_id, t.campaign_id, t.kind, t.status, t.pool_limit,"  # noqa: S608 (values are parameters)
            f" t.is_recall FROM sampling_tube t WHERE {where}"
            f" ORDER BY t.code{bulk.for_update('t')}",
            params,
        )
        for tid, code, site_id, campaign_id, kind, status, limit, recall in rows:
            self.tubes[code] = _Tube(
                code, site_id, campaign_id, kind, status, limit, bool(recall), [], id=tid
            )
        self._load_seen()
        self._load_people()
        others = self._load_samples()
        if any(e.type == EventType.OPEN_TUBE for e in self.events):
            self._load_labels(codes)
        self._load_names(others)

    def _load_names(self, elsewhere: dict[int, list[int]]) -> None:
        """Codes and site names for messages about other sites' tubes: needed for
        conflicts only, so the usual batch makes neither query."""
        if elsewhere:
            where, params = bulk.any_of("t.id", elsewhere, "bigint")
            rows = bulk.select(
                "SELECT t.id, t.code, s.id, s.name FROM sampling_tube t"  # noqa: S608 (values are parameters)
                f" JOIN campaigns_site s ON s.id = t.site_id WHERE {where}",
                params,
            )
            for tube_id, code, site_id, name in rows:
                self.site_names[site_id] = name
                for person_id in elsewhere[tube_id]:
                    self.active[person_id] = _Where(code, site_id, None)
        sites = {t.site_id for t in self.tubes.values()} - set(self.site_names)
        if sites:
            where, params = bulk.any_of("id", sites, "bigint")
            names = bulk.select(f"SELECT id, name FROM campaigns_site WHERE {where}", params)  # noqa: S608 (values are parameters)
            self.site_names.update((site_id, name) for site_id, name in names)

    def _load_seen(self) -> None:
        ids = [bulk.uuid_param(e.id) for e in self.events]
        where, params = bulk.any_of("client_event_id", ids, "uuid")
        rows = bulk.select(
            "SELECT client_event_id, fate, reason, payload, person_id"  # noqa: S608 (values are parameters)
            f" FROM sampling_stationevent WHERE {where}",
            params,
        )
        self.seen = {
            bulk.uuid_value(event_id): {
                "fate": fate, "reason": reason, "payload": bulk.json_value(payload),
                "person_id": person_id,
            }
            for event_id, fate, reason, payload, person_id in rows
        }  # fmt: skip
        wanted = {row["person_id"] for row in self.seen.values() if row["person_id"]}
        self._add_person_info(wanted)

    def _load_people(self) -> None:
        keys: dict[uuid.UUID, scans.ScanKey] = {}
        for event in self.events:
            if event.id in self.seen or event.type not in (
                EventType.ADD_PERSON,
                EventType.REMOVE_LAST,
            ):
                continue
            try:
                if event.person:
                    keys[event.id] = scans.ScanKey("public_id", event.person)
                elif event.scan:
                    keys[event.id] = scans.classify(event.scan)
                    self.scan_kinds[event.id] = keys[event.id].field
            except scans.ScanError as exc:
                self.people[event.id] = exc
                self.scan_kinds[event.id] = exc.reason
        found = scans.lookup(keys.values())
        for event_id, key in keys.items():
            row = found.get(key)
            if row is None and key.card is not None:
                try:
                    row = scans.resolve(key, by=self.by, site=self.site)
                except scans.ScanError as exc:
                    self.people[event_id] = exc
                    continue
                found[key] = row
            self.people[event_id] = row or scans.ScanError(Reason.PERSON_UNKNOWN)
            if row is not None:
                self.person_info[row.id] = row

    def _load_samples(self) -> dict[int, list[int]]:
        """Active samples of the run's tubes, and of its people in this campaign.
        Returns the people sampled in other tubes, by tube id."""
        tube_ids = {t.id: t for t in self.tubes.values() if t.id is not None}
        person_ids = {r.id for r in self.people.values() if isinstance(r, scans.PersonRow)}
        if not tube_ids and not person_ids:
            return {}
        # Each branch only when it has values: an always-false branch of an OR can
        # steer PostgreSQL off the partial indexes.
        branches, params = [], []
        if tube_ids:
            in_tubes, tube_params = bulk.any_of("tube_id", tube_ids, "bigint")
            branches.append(in_tubes)
            params += tube_params
        if person_ids:
            of_people, people_params = bulk.any_of("person_id", person_ids, "bigint")
            branches.append(f"({of_people} AND campaign_id = %s AND kind = %s)")
            params += [*people_params, self.campaign.pk, SampleKind.NORMAL.value]
        rows = bulk.select(
            "SELECT id, tube_id, person_id, position, kind, campaign_id FROM sampling_sample"  # noqa: S608 (values are parameters)
            f" WHERE active AND ({' OR '.join(branches)}) ORDER BY tube_id, position",
            params,
        )
        elsewhere: dict[int, list[int]] = {}
        for sid, tube_id, person_id, position, kind, campaign_id in rows:
            member = _Member(person_id, position, kind, sample_id=sid)
            tube = tube_ids.get(tube_id)
            if tube is not None:
                tube.members.append(member)
            if kind != SampleKind.NORMAL or campaign_id != self.campaign.pk:
                continue
            if tube is not None:
                self.active[person_id] = _Where(tube.code, tube.site_id, member)
            else:
                elsewhere.setdefault(tube_id, []).append(person_id)
        return elsewhere

    def _load_labels(self, codes: set[str]) -> None:
        self.labels = {
            row["code"]: dict(row)
            for row in TubeLabel.objects.filter(code__in=codes).values(
                "code", "campaign_id", "site_id", "used_at"
            )
        }
        self.settings = SamplingSettings.objects.filter(campaign=self.campaign).first()

    def _add_person_info(self, ids: Iterable[int]) -> None:
        missing = set(ids) - set(self.person_info)
        if not missing:
            return
        from swabline.people.models import Person

        for row in Person.objects.filter(id__in=missing).values(*scans.PERSON_FIELDS):
            self.person_info[row["id"]] = scans.PersonRow(
                row["id"], row["public_id"], row["full_name"], row["birth_year"]
            )

    # --- playing ----------------------------------------------------------------

    def play(self) -> list[EventResult]:
        """Each event's result, in the order of `self.events`."""
        handlers: dict[str, Callable[[EventIn], EventResult]] = {
            EventType.OPEN_TUBE: self._open,
            EventType.ADD_PERSON: self._add,
            EventType.REMOVE_LAST: self._remove_last,
            EventType.CLOSE_TUBE: self._close,
            EventType.VOID_TUBE: self._void,
        }
        played: list[EventResult] = []
        for event in self.events:
            first = self.results.get(event.id)
            if first is not None:  # the same id twice in one batch
                result = self._replay_of(event, first.fate, first.reason, dict(first.params))
                result.person_id = first.person_id
            elif event.id in self.seen:
                result = self._replay(event)
            else:
                result = self._check(event) or handlers[event.type](event)
                self._settled(event, result)
            self._describe_tube(event, result)
            played.append(result)
        self._describe_people(played)
        self.records = [self._record(e, self.results[e.id]) for e in self.to_record]
        return played

    def _settled(self, event: EventIn, result: EventResult) -> None:
        self.results[event.id] = result
        if result.reason not in TRANSIENT:
            self.to_record.append(event)
        if event.resolves and result.fate == Fate.APPLIED:
            self.resolved.append(event.resolves)

    def _describe_tube(self, event: EventIn, result: EventResult) -> None:
        tube = self.tubes.get(event.tube)
        if result.tube is None and tube is not None and tube.site_id == self.site.pk:
            result.tube = tube.brief()

    def _describe_people(self, results: list[EventResult]) -> None:
        self._add_person_info(r.person_id for r in results if r.person_id)
        for result in results:
            if result.person_id is not None and result.person is None:
                person = self.person_info[result.person_id]
                result.person = _brief(person)
                result.params.setdefault("person", result.person.display)
                result.params.setdefault("birth_year", person.birth_year)

    def _check(self, event: EventIn) -> EventResult | None:
        """What no event may do: come from a wrong clock, miss its tube, or capture
        in a closed campaign."""
        earliest = self.campaign.starts_on - CLOCK_AHEAD
        if event.at > self.now + CLOCK_AHEAD or timezone.localdate(event.at) < earliest:
            local = timezone.localtime(event.at)
            return _conflict(event, Reason.CLOCK, at=f"{local:%d/%m/%Y %H:%M}")
        if not event.tube:
            return _conflict(event, Reason.INVALID, field="tube")
        if event.type in _CLOSED_TO_CAPTURE and self.campaign.status == CampaignStatus.CLOSED:
            return _conflict(event, Reason.CAMPAIGN_CLOSED)
        if event.type in TUBE_EVENTS:
            tube = self.tubes.get(event.tube)
            if tube is None:
                return _conflict(event, Reason.TUBE_UNKNOWN, tube=event.tube)
            if tube.site_id != self.site.pk:
                site = self.site_names.get(tube.site_id, "")
                return _conflict(event, Reason.OTHER_SITE, tube=tube.code, site=site)
        return None

    def _open(self, event: EventIn) -> EventResult:
        code = event.tube
        existing = self.tubes.get(code)
        if existing is not None:
            site = self.site_names.get(existing.site_id, "")
            return _conflict(event, Reason.LABEL_USED, tube=code, site=site)
        kind = event.kind or TubeKind.POOL
        if kind not in _TUBE_KINDS:
            return _conflict(event, Reason.INVALID, field="kind")
        if kind == TubeKind.POOL and self.campaign.test_type != TestType.RT_PCR_POOLED:
            return _conflict(event, Reason.POOL_NOT_ALLOWED)
        refused, notice = self._label_verdict(code)
        if refused:
            return _conflict(event, refused, tube=code)
        limit = 1 if kind == TubeKind.INDIVIDUAL else self.campaign.pool_size_limit
        tube = _Tube(
            code, self.site.pk, self.campaign.pk, kind, TubeStatus.OPEN, limit, False, [],
            new=True, client_opened_at=event.at,
        )  # fmt: skip
        self.tubes[code] = tube
        if code in self.labels:
            self.used_labels.append(code)
        self.audits.append(_Audit(tube, "tube.opened", {"kind": kind, "event": str(event.id)}))
        return _applied(event, notice, tube=code, limit=limit)

    def _label_verdict(self, code: str) -> tuple[str, str]:
        """(refusal reason, notice) for opening a tube with this label."""
        label = self.labels.get(code)
        if label is not None:
            if label["campaign_id"] != self.campaign.pk:
                return Reason.LABEL_OTHER_CAMPAIGN, ""
            if label["used_at"] is not None:
                return Reason.LABEL_USED, ""
            if label["site_id"] not in (None, self.site.pk):
                return "", Reason.LABEL_OTHER_SITE
            return "", ""
        if self.settings is not None and self.settings.accepts_supplier_code(code):
            return "", ""
        if looks_generated(code) and not is_valid_damm(code):
            return Reason.LABEL_CHECK, ""
        return Reason.LABEL_UNKNOWN, ""

    def _add(self, event: EventIn) -> EventResult:
        tube = self.tubes[event.tube]
        found = self.people.get(event.id)
        if found is None:
            return _conflict(event, Reason.INVALID, field="scan")
        if isinstance(found, scans.ScanError):
            return _conflict(event, found.reason, detail=found.detail)
        person = found
        if tube.status != TubeStatus.OPEN:
            return _conflict(event, Reason.TUBE_CLOSED, person, tube=tube.code, status=tube.status)
        here = next((m for m in tube.members if m.person_id == person.id), None)
        if here is not None:
            return _result(
                event, Fate.DUPLICATE, Reason.ALREADY_IN_TUBE, person, position=here.position
            )
        if len(tube.members) >= tube.pool_limit:
            return _conflict(event, Reason.TUBE_FULL, person, tube=tube.code, limit=tube.pool_limit)
        kind = event.kind or SampleKind.NORMAL
        if kind not in _SAMPLE_KINDS:
            return _conflict(event, Reason.INVALID, person, field="kind")
        if kind != SampleKind.NORMAL and not (event.override or recall_listed(person, kind)):
            return _conflict(event, Reason.NEEDS_OVERRIDE, person)
        if kind == SampleKind.RECALL and tube.kind != TubeKind.INDIVIDUAL:
            return _conflict(event, Reason.RECALL_NEEDS_INDIVIDUAL, person)
        notice, other = "", self.active.get(person.id) if kind == SampleKind.NORMAL else None
        if other is not None:
            params = {"other_tube": other.tube_code, "other_site": self.site_names[other.site_id]}
            if not event.override:
                return _conflict(event, Reason.ALREADY_SAMPLED, person, **params)
            # Sampled twice on purpose: both swabs are real, so both samples stay;
            # the second one is a recollection, which the unique rule exempts.
            notice, kind = Reason.OVERRIDE, SampleKind.RECOLLECT
            self.audits.append(
                _Audit(tube, "sample.override", {"person": person.public_id, **params})
            )
        return self._admit(event, tube, person, kind, notice, other)

    def _admit(
        self,
        event: EventIn,
        tube: _Tube,
        person: scans.PersonRow,
        kind: str,
        notice: str,
        other: _Where | None,
    ) -> EventResult:
        position = len(tube.members) + 1
        new = _NewSample(tube, person.id, position, kind, event)
        member = _Member(person.id, position, kind, new=new)
        tube.members.append(member)
        tube.changed = True
        tube.is_recall = tube.is_recall or kind == SampleKind.RECALL
        self.new_samples.append(new)
        if kind == SampleKind.NORMAL:
            self.active[person.id] = _Where(tube.code, tube.site_id, member)
        params: dict[str, Any] = {"count": position, "limit": tube.pool_limit}
        if other is not None:
            params.update(other_tube=other.tube_code, other_site=self.site_names[other.site_id])
        if position == tube.pool_limit:
            self._set_status(tube, TubeStatus.CLOSED, auto=True, event=str(event.id))
            notice = notice or Reason.TUBE_FULL_CLOSED
        return _applied(event, notice, person, **params)

    def _remove_last(self, event: EventIn) -> EventResult:
        tube = self.tubes[event.tube]
        expected = self.people.get(event.id)
        if isinstance(expected, scans.ScanError):
            return _conflict(event, expected.reason, detail=expected.detail)
        if tube.status != TubeStatus.OPEN:
            return _conflict(
                event, Reason.TUBE_CLOSED, expected, tube=tube.code, status=tube.status
            )
        if expected is not None and all(m.person_id != expected.id for m in tube.members):
            return _result(event, Fate.DUPLICATE, Reason.NOT_IN_TUBE, expected, tube=tube.code)
        if not tube.members:
            return _conflict(event, Reason.TUBE_EMPTY, tube=tube.code)
        last = tube.members[-1]
        if expected is not None and last.person_id != expected.id:
            return _conflict(event, Reason.NOT_LAST, expected, tube=tube.code)
        self._drop(tube, last)
        self.audits.append(
            _Audit(tube, "sample.removed", {"position": last.position, "event": str(event.id)})
        )
        result = _applied(event, "", tube=tube.code, count=len(tube.members), limit=tube.pool_limit)
        result.person_id = last.person_id
        return result

    def _close(self, event: EventIn) -> EventResult:
        tube = self.tubes[event.tube]
        if tube.status == TubeStatus.CLOSED:
            return _result(event, Fate.DUPLICATE, Reason.ALREADY_CLOSED, tube=tube.code)
        if tube.status != TubeStatus.OPEN:
            return _conflict(event, Reason.TUBE_CLOSED, tube=tube.code, status=tube.status)
        if not tube.members:
            return _conflict(event, Reason.TUBE_EMPTY, tube=tube.code)
        self._set_status(tube, TubeStatus.CLOSED, auto=False, event=str(event.id))
        return _applied(event, "", tube=tube.code, count=len(tube.members))

    def _void(self, event: EventIn) -> EventResult:
        tube = self.tubes[event.tube]
        if tube.status == TubeStatus.VOID:
            return _result(event, Fate.DUPLICATE, Reason.ALREADY_VOID, tube=tube.code)
        if tube.status != TubeStatus.OPEN:
            return _conflict(event, Reason.TUBE_CLOSED, tube=tube.code, status=tube.status)
        removed = len(tube.members)
        for member in list(tube.members):
            self._drop(tube, member)
        tube.voided_reason = event.reason[:200]
        self._set_status(
            tube, TubeStatus.VOID, reason=tube.voided_reason, removed=removed, event=str(event.id)
        )
        return _applied(event, "", tube=tube.code, removed=removed)

    def _drop(self, tube: _Tube, member: _Member) -> None:
        tube.members.remove(member)
        tube.changed = True
        if member.new is not None:
            member.new.removed_at = self.now
        elif member.sample_id is not None:
            self.removed_ids.append(member.sample_id)
        where = self.active.get(member.person_id)
        if where is not None and where.member is member:
            del self.active[member.person_id]

    def _set_status(self, tube: _Tube, to: str, **data: Any) -> None:
        if to not in ALLOWED_TRANSITIONS[tube.status]:
            raise AssertionError(f"sync played a forbidden transition {tube.status}→{to}")
        self.audits.append(_Audit(tube, f"tube.{to}", {"from": tube.status, "to": to, **data}))
        tube.status = to
        tube.changed = True
        if to == TubeStatus.CLOSED:
            tube.closed_at = self.now

    def _replay(self, event: EventIn) -> EventResult:
        row = self.seen[event.id]
        params = dict(row["payload"].get("params", {}))
        result = self._replay_of(event, row["fate"], row["reason"], params)
        result.person_id = row["person_id"]
        return result

    def _replay_of(
        self, event: EventIn, fate: str, reason: str, params: dict[str, Any]
    ) -> EventResult:
        return EventResult(
            event.id, event.type, Fate.DUPLICATE, Reason.REPLAYED, params,
            first_fate=fate, first_reason=reason,
        )  # fmt: skip

    def _record(self, event: EventIn, result: EventResult) -> tuple[Any, ...]:
        """The event log row (see EVENT_FIELDS): what was asked, without the scanned
        text, and the fate."""
        payload: dict[str, Any] = {"params": _plain(result.params)}
        if event.seq is not None:
            payload["seq"] = event.seq
        for name in ("kind", "reason"):
            if getattr(event, name):
                payload[name] = getattr(event, name)
        if event.override:
            payload["override"] = True
        if event.resolves:
            payload["resolves"] = str(event.resolves)
        if event.id in self.scan_kinds:
            payload["scan"] = self.scan_kinds[event.id]
        return (
            event.id, self.device_id, self.by.pk, self.site.pk, self.site.province_code,
            event.type, event.tube, result.person_id, payload, event.at, self.now,
            result.fate, result.reason, None, None,
        )  # fmt: skip

    # --- writing ----------------------------------------------------------------

    def write(self) -> None:
        """The run's outcome, in an order the triggers accept: tubes are opened
        before samples go in, and closed or cancelled after."""
        self._insert_tubes()
        if self.used_labels:
            TubeLabel.objects.filter(code__in=self.used_labels, used_at__isnull=True).update(
                used_at=self.now
            )
        if self.removed_ids:
            Sample.objects.filter(id__in=self.removed_ids, active=True).update(
                active=False, removed_at=self.now
            )
        bulk.insert(Sample, SAMPLE_FIELDS, [self._sample_row(s) for s in self.new_samples])
        bulk.update(
            Tube, TUBE_CHANGES, [_tube_changes(t) for t in self.tubes.values() if t.changed]
        )
        bulk.insert(StationEvent, EVENT_FIELDS, self.records)
        bulk.insert(AuditEvent, AUDIT_FIELDS, [self._audit_row(a) for a in self.audits])
        if self.resolved:
            StationEvent.objects.filter(
                client_event_id__in=self.resolved,
                site_id=self.site.pk,
                fate=Fate.CONFLICT,
                resolved_at__isnull=True,
            ).update(resolved_at=self.now, resolved_by=self.by)

    def _insert_tubes(self) -> None:
        new = {t.code: t for t in self.tubes.values() if t.new}
        if not new:
            return
        province = self.site.province_code
        rows = [
            (t.code, t.campaign_id, t.site_id, province, t.kind, TubeStatus.OPEN, t.pool_limit,
             0, False, self.by.pk, self.now, t.client_opened_at, None, "")
            for t in new.values()
        ]  # fmt: skip
        bulk.insert(Tube, TUBE_FIELDS, rows)
        for pk, code in Tube.objects.filter(code__in=new).values_list("id", "code"):
            new[code].id = pk

    def _sample_row(self, s: _NewSample) -> tuple[Any, ...]:
        return (
            s.tube.pk, s.person_id, self.campaign.pk, self.site.province_code, s.position,
            s.kind, s.removed_at is None, s.removed_at, s.event.at, self.by.pk, self.now,
            s.event.id,
        )  # fmt: skip

    def _audit_row(self, a: _Audit) -> tuple[Any, ...]:
        return (
            self.now, self.by.pk, getattr(self.by, "username", "") or "", a.action,
            Tube._meta.label_lower, str(a.tube.pk), self.site.province_code,
            {"tube": a.tube.code, **a.data},
        )  # fmt: skip


TUBE_FIELDS = (
    "code", "campaign", "site", "province_code", "kind", "status", "pool_limit",
    "member_count", "is_recall", "opened_by", "opened_at", "client_opened_at", "closed_at",
    "voided_reason",
)  # fmt: skip
TUBE_CHANGES = ("status", "member_count", "closed_at", "voided_reason", "is_recall")
SAMPLE_FIELDS = (
    "tube", "person", "campaign", "province_code", "position", "kind", "active",
    "removed_at", "collected_at", "collected_by", "received_at", "client_event_id",
)  # fmt: skip
EVENT_FIELDS = (
    "client_event_id", "device_id", "user", "site", "province_code", "type", "tube_code",
    "person", "payload", "client_at", "received_at", "fate", "reason", "resolved_at",
    "resolved_by",
)  # fmt: skip
AUDIT_FIELDS = (
    "at", "actor_id", "actor_label", "action", "subject_type", "subject_id", "province_code",
    "data",
)  # fmt: skip


def _tube_changes(t: _Tube) -> tuple[Any, ...]:
    return (t.pk, t.status, len(t.members), t.closed_at, t.voided_reason, t.is_recall)


def recall_listed(person: scans.PersonRow, kind: str) -> bool:
    """Whether `person` is on this campaign's recall (or recollection) list.

    Hook for the recall lists (issue 5): until they exist, no one is listed, so a
    recall or recollection sample needs the sampler's explicit override.
    """
    return False


# --- The entry point ----------------------------------------------------------------


def apply(
    *, by: Any, site: Site, device_id: str, events: Sequence[EventIn], now: dt.datetime
) -> list[EventResult]:
    """Apply `events` (the caller checked the permission) and record the device's
    sync; results in the order of `events`. Runs its own transaction, or a
    savepoint inside the caller's."""
    order = station_order(events)
    ordered = [_normalized(events[i]) for i in order]
    played = _attempt(by=by, site=site, device_id=device_id, events=ordered, now=now, touch=True)
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
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                run = _Run(by=by, site=site, device_id=device_id, events=events, now=now)
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
                "station batch replayed after a concurrent change",
                extra={"attempt": attempt, "events": len(events), "error": type(exc).__name__},
            )
    return None


def _one_by_one(
    *, by: Any, site: Site, device_id: str, event: EventIn, now: dt.datetime
) -> EventResult:
    results = _attempt(by=by, site=site, device_id=device_id, events=[event], now=now)
    if results is not None:
        return results[0]
    log.warning("station event left for the station to resend", extra={"event": str(event.id)})
    return EventResult(event.id, event.type, Fate.CONFLICT, Reason.RETRY)


_touched: dict[tuple[str, int, int], float] = {}


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
    transaction.on_commit(lambda: _touched.__setitem__(key, time.monotonic()))


def _normalized(event: EventIn) -> EventIn:
    at = event.at if timezone.is_aware(event.at) else timezone.make_aware(event.at)
    return dataclasses.replace(
        event, tube=normalize_tube_code(event.tube), at=at, person=event.person.strip()
    )


def _result(
    event: EventIn,
    fate: str,
    reason: str,
    person: scans.PersonRow | None = None,
    **params: Any,
) -> EventResult:
    result = EventResult(event.id, event.type, fate, reason, params)
    if person is not None:
        result.person_id = person.id
        result.person = _brief(person)
        params.setdefault("person", result.person.display)
        params.setdefault("birth_year", person.birth_year)
    return result


def _applied(
    event: EventIn, notice: str, person: scans.PersonRow | None = None, **params: Any
) -> EventResult:
    return _result(event, Fate.APPLIED, notice, person, **params)


def _conflict(
    event: EventIn, reason: str, person: scans.PersonRow | None = None, **params: Any
) -> EventResult:
    return _result(event, Fate.CONFLICT, reason, person, **params)


def _brief(person: scans.PersonRow) -> PersonBrief:
    return PersonBrief(person.public_id, display_name(person.full_name), person.birth_year)


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, int | float | bool) else str(v) for k, v in params.items()}
