"""The in-memory state of one run: tubes, members, the people's active samples."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from swabline.campaigns.models import Campaign, Site
from swabline.people.models import Person
from swabline.sampling import scans
from swabline.sampling.models import SamplingSettings
from swabline.sampling.sync.events import CLOCK_AHEAD, EventIn, EventResult, TubeBrief

NO_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(slots=True)
class NewSample:
    tube: TubeState
    person_id: int
    position: int
    kind: str
    event: EventIn
    removed_at: dt.datetime | None = None


@dataclass(slots=True)
class Member:
    person_id: int
    position: int
    kind: str
    sample_id: int | None = None  # a stored row
    new: NewSample | None = None  # a row this run inserts


@dataclass(slots=True)
class TubeState:
    code: str
    site_id: int
    campaign_id: int
    kind: str
    status: str
    pool_limit: int
    is_recall: bool
    members: list[Member]
    id: int | None = None
    count: int = 0  # active members: the stored count, then len(members) once loaded
    new: bool = False
    changed: bool = False
    closed_at: dt.datetime | None = None
    voided_reason: str = ""
    client_opened_at: dt.datetime = NO_TIME

    def brief(self) -> TubeBrief:
        return TubeBrief(self.code, self.count, self.pool_limit, self.status)

    @property
    def pk(self) -> int:
        if self.id is None:
            raise AssertionError(f"tube {self.code} has no row yet")
        return self.id


@dataclass(slots=True)
class Where:
    """Where a person's active normal sample of the campaign is."""

    tube_code: str
    site_id: int
    member: Member | None  # set when the tube is part of this run


@dataclass(slots=True)
class Audit:
    tube: TubeState
    action: str
    data: dict[str, Any]


class State:
    """What one attempt at a batch knows. Must be used inside a transaction."""

    def __init__(
        self,
        *,
        by: Any,
        site: Site,
        device_id: str,
        events: Sequence[EventIn],
        now: dt.datetime,
        lean: bool = False,
    ) -> None:
        # Lean: a lone scan, tried first without reading the event log or the samples;
        # the database's unique keys catch a replay or a person already sampled, and
        # the scan is then played again with everything read (see `lean_enough`).
        self.lean = lean
        self.by = by
        self.site = site
        self.campaign: Campaign = site.campaign
        self.device_id = device_id
        self.events = events
        self.now = now
        # Read once: a batch asks for them per event.
        self.site_id: int = site.pk
        self.campaign_id: int = self.campaign.pk
        self.user_id: int = by.pk
        # An event is too early when its local date is before this day; comparing
        # instants is the same test without a time zone conversion per event.
        earliest = self.campaign.starts_on - CLOCK_AHEAD
        self.earliest_at = timezone.make_aware(dt.datetime.combine(earliest, dt.time.min))
        self.latest_at = now + CLOCK_AHEAD
        self.tubes: dict[str, TubeState] = {}
        self.seen: dict[uuid.UUID, dict[str, Any]] = {}
        self.people: dict[uuid.UUID, scans.PersonRow | scans.ScanError] = {}
        self.scan_kinds: dict[uuid.UUID, str] = {}  # for the log: never the scanned text
        self.person_info: dict[int, scans.PersonRow] = {}
        self.active: dict[int, Where] = {}
        self.site_names: dict[int, str] = {site.pk: site.name}
        self.labels: dict[str, dict[str, Any]] = {}
        self.settings: SamplingSettings | None = None
        self.new_samples: list[NewSample] = []
        self.removed_ids: list[int] = []
        self.used_labels: list[str] = []
        self.to_record: list[EventIn] = []
        self.records: list[tuple[Any, ...]] = []
        self.audits: list[Audit] = []
        self.resolved: list[uuid.UUID] = []
        self.results: dict[uuid.UUID, EventResult] = {}

    def _add_person_info(self, ids: Iterable[int]) -> None:
        missing = set(ids) - set(self.person_info)
        if not missing:
            return
        for row in Person.objects.filter(id__in=missing).values(*scans.PERSON_FIELDS):
            self.person_info[row["id"]] = scans.PersonRow(
                row["id"], row["public_id"], row["full_name"], row["birth_year"]
            )
