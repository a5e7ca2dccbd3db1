"""Reads behind the reports: who may see which campaign and place, and the daily
figures per ward. Turnaround times live in `turnaround.py`, the advisor's counts in
`advisor.py`.

Every figure is counted per ward of the *site* where the tube was taken (the
dashboard's rollups are per site), except "registered", which counts people by the
ward they live in. Each figure is one grouped query over all the report's wards,
never a query per ward.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404

from swabline.accounts.enums import Permission, ScopeKind
from swabline.accounts.permissions import grants_for, has_permission
from swabline.campaigns.models import Campaign, CampaignWard
from swabline.labs.enums import ResultState, ResultValue
from swabline.labs.models import TubeResult
from swabline.people.models import Person
from swabline.places.models import Place
from swabline.results.enums import OutcomeState
from swabline.results.models import ACTIONABLE_STATES, Outcome
from swabline.results.queries import PENDING_TUBE_STATUSES
from swabline.sampling.enums import SampleKind, TubeKind, TubeStatus
from swabline.sampling.models import Sample, Tube

TUBE_STATUSES = tuple(TubeStatus.values)


def local_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The local day `day` (Asia/Ho_Chi_Minh by default) as an aware [start, end)."""
    zone = local_zone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    return start, start + dt.timedelta(days=1)


# --- Who sees what -------------------------------------------------------------------


@dataclass(frozen=True)
class ReportScope:
    """A campaign seen from one place: the place and the campaign's wards under it."""

    campaign: Campaign
    place: Place
    wards: list[Place]

    @property
    def ward_ids(self) -> list[int]:
        return [w.pk for w in self.wards]


def campaigns_for(user: Any, *perms: Permission) -> QuerySet[Campaign]:
    """Campaigns in whose province `user` holds all of `perms` somewhere (a ward
    official sees their province's campaigns, narrowed to their ward later)."""
    campaigns = Campaign.objects.select_related("province").order_by("-starts_on", "name")
    paths: set[str] | None = None
    for perm in perms:
        held = grants_for(user, perm)
        if any(g.kind == ScopeKind.EVERYWHERE for g in held):
            continue
        mine = {g.place_path for g in held if g.place_path}
        paths = (
            mine
            if paths is None
            else {p for p in paths if any(p.startswith(m) or m.startswith(p) for m in mine)}
        )
    if paths is None:
        return campaigns
    provinces = {p.split("/")[1] for p in paths if p.count("/") >= 2}
    return campaigns.filter(province_id__in=[int(p) for p in provinces if p.isdigit()])


def report_scope(
    user: Any, campaign_id: uuid.UUID, place_code: str, *perms: Permission
) -> ReportScope:
    """The campaign and place a report is asked for, or 404 when the campaign or
    the place is unknown or outside the user's places (so ids cannot be probed).
    Without a code, the user's widest place in the campaign's province."""
    campaign = campaigns_for(user, *perms).filter(public_id=campaign_id).first()
    if campaign is None:
        raise Http404
    province = campaign.province
    if place_code:
        place = (
            Place.objects.filter(code=place_code, path__startswith=province.path)
            .order_by("system", "path")
            .first()
        )
    else:
        place = _widest_place(user, province, perms)
    if place is None or not all(has_permission(user, perm, place) for perm in perms):
        raise Http404
    return ReportScope(campaign=campaign, place=place, wards=campaign_wards(campaign, place))


def _widest_place(user: Any, province: Place, perms: tuple[Permission, ...]) -> Place | None:
    held = [g for perm in perms for g in grants_for(user, perm)]
    if any(g.kind == ScopeKind.EVERYWHERE for g in held):
        return province
    paths = sorted(
        {g.place_path for g in held if g.place_path and g.place_path.startswith(province.path)},
        key=len,
    )
    for path in paths:
        place = Place.objects.filter(path=path).first()
        if place is not None and all(has_permission(user, perm, place) for perm in perms):
            return place
    return None


def campaign_wards(campaign: Campaign, place: Place) -> list[Place]:
    """The campaign's wards (with a target or a site) at or under `place`, by name."""
    listed = CampaignWard.objects.filter(campaign=campaign).values("ward_id")
    return list(
        Place.objects.filter(Q(sites__campaign=campaign) | Q(pk__in=listed))
        .filter(path__startswith=place.path)
        .distinct()
        .order_by("name", "pk")
    )


# --- The daily figures ---------------------------------------------------------------


@dataclass
class Figures:
    """One row of the daily report: a ward, or the total of several."""

    target: int = 0
    registered: int = 0
    sampled_people: int = 0
    sampled_tubes: int = 0
    tubes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TUBE_STATUSES, 0))
    positive_pools: int = 0
    positive_people: int = 0
    recall_pending: int = 0
    recollect_pending: int = 0
    sampled_on_day: int = 0
    released_on_day: int = 0

    @property
    def coverage(self) -> float | None:
        """Share of the target population sampled (None without a target)."""
        return self.sampled_people / self.target if self.target else None

    def add(self, other: Figures) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for status, count in other.tubes.items():
            self.tubes[status] += count


COUNTS = (
    "target",
    "registered",
    "sampled_people",
    "sampled_tubes",
    "positive_pools",
    "positive_people",
    "recall_pending",
    "recollect_pending",
    "sampled_on_day",
    "released_on_day",
)


@dataclass
class DailyReport:
    scope: ReportScope
    day: dt.date
    rows: list[tuple[Place, Figures]]
    total: Figures


def daily(scope: ReportScope, day: dt.date) -> DailyReport:
    """The daily report of `scope`: one row per ward and their total. Counts are
    the state now (tubes by status, outcomes, pending lists) plus two columns for
    `day` alone (people sampled that day, tubes released that day). Six grouped
    queries whatever the number of wards."""
    ids = scope.ward_ids
    by_ward: dict[int, Figures] = defaultdict(Figures)
    start, end = day_bounds(day)
    campaign = scope.campaign
    targets = CampaignWard.objects.filter(campaign=campaign, ward_id__in=ids)
    for ward_id, target in targets.values_list("ward_id", "target_population"):
        by_ward[ward_id].target = target
    registered = (
        Person.objects.filter(ward_id__in=ids, merged_into__isnull=True)
        .values("ward_id")
        .annotate(n=Count("id"))
        .values_list("ward_id", "n")
    )
    for ward_id, n in registered:
        by_ward[ward_id].registered = n
    tubes = (
        Tube.objects.filter(campaign=campaign, site__ward_id__in=ids)
        .values("site__ward_id", "status")
        .annotate(n=Count("id"))
        .values_list("site__ward_id", "status", "n")
    )
    for ward_id, status, n in tubes:
        figures = by_ward[ward_id]
        figures.tubes[status] = n
        if status != TubeStatus.VOID:
            figures.sampled_tubes += n
    _samples(by_ward, campaign, ids, start, end)
    _results(by_ward, campaign, ids, start, end)
    _outcomes(by_ward, campaign, ids)
    rows = [(ward, by_ward[ward.pk]) for ward in scope.wards]
    total = Figures()
    for _ward, figures in rows:
        total.add(figures)
    return DailyReport(scope=scope, day=day, rows=rows, total=total)


def _samples(
    by_ward: dict[int, Figures], campaign: Campaign, ids: list[int], start: Any, end: Any
) -> None:
    # One active normal sample per person and campaign (a unique index): counting
    # them counts people, and a ward's rows add up to the total exactly.
    rows = (
        Sample.objects.filter(
            campaign=campaign, active=True, kind=SampleKind.NORMAL, tube__site__ward_id__in=ids
        )
        .values("tube__site__ward_id")
        .annotate(
            n=Count("id"),
            today=Count("id", filter=Q(collected_at__gte=start, collected_at__lt=end)),
        )
    )
    for row in rows:
        figures = by_ward[row["tube__site__ward_id"]]
        figures.sampled_people = row["n"]
        figures.sampled_on_day = row["today"]


def _results(
    by_ward: dict[int, Figures], campaign: Campaign, ids: list[int], start: Any, end: Any
) -> None:
    rows = (
        TubeResult.objects.filter(
            current=True,
            state=ResultState.RELEASED,
            tube__campaign=campaign,
            tube__site__ward_id__in=ids,
        )
        .values("tube__site__ward_id")
        .annotate(
            positive_pools=Count(
                "id", filter=Q(value=ResultValue.POSITIVE, tube__kind=TubeKind.POOL)
            ),
            today=Count("id", filter=Q(released_at__gte=start, released_at__lt=end)),
        )
    )
    for row in rows:
        figures = by_ward[row["tube__site__ward_id"]]
        figures.positive_pools = row["positive_pools"]
        figures.released_on_day = row["today"]


def _outcomes(by_ward: dict[int, Figures], campaign: Campaign, ids: list[int]) -> None:
    """Positive people, and the recall and recollect lists' people not yet swabbed
    again (the officials' lists with "not yet resampled")."""
    newer = Sample.objects.filter(
        person_id=OuterRef("person_id"),
        campaign_id=OuterRef("campaign_id"),
        active=True,
        id__gt=OuterRef("sample_id"),
        tube__status__in=PENDING_TUBE_STATUSES,
    )
    rows = (
        Outcome.objects.filter(
            campaign=campaign,
            current=True,
            state__in=ACTIONABLE_STATES,  # all it counts; and what the index holds
            tube__site__ward_id__in=ids,
        )
        .values("tube__site__ward_id")
        .annotate(
            positive=Count("id", filter=Q(state=OutcomeState.POSITIVE)),
            recall=Count("id", filter=Q(Q(state=OutcomeState.RECALL), ~Exists(newer))),
            recollect=Count("id", filter=Q(Q(state=OutcomeState.RECOLLECT), ~Exists(newer))),
        )
    )
    for row in rows:
        figures = by_ward[row["tube__site__ward_id"]]
        figures.positive_people = row["positive"]
        figures.recall_pending = row["recall"]
        figures.recollect_pending = row["recollect"]


# --- The positive list ---------------------------------------------------------------


def positives(scope: ReportScope) -> QuerySet[Outcome]:
    """People whose current outcome in the campaign is *positive*, tested at a site
    of the scope's wards, oldest decision first (for contact tracing)."""
    return (
        Outcome.objects.filter(
            campaign=scope.campaign,
            current=True,
            state=OutcomeState.POSITIVE,
            tube__site__ward_id__in=scope.ward_ids,
        )
        .select_related("person__ward", "tube__site", "result__lab")
        .order_by("decided_at", "id")
    )
