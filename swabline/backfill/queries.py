"""Reads of the paper backfill, always scoped to the user asking.

`backlog` is the contract the command center reads: per site and per ward, the
paper tubes declared and not yet entered, the names-missing tubes at labs with
their age, and how long backfill took (median and p90). A fixed number of queries
whatever the number of sites.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import scope_filter
from swabline.backfill.models import LateEntry, PaperBacklog
from swabline.campaigns.models import Campaign, Site
from swabline.places.models import Place
from swabline.sampling.models import Tube, TubeLabel

# Who sees backfill figures: those who enter paper tubes, and officials.
READERS = (Permission.BACKFILL_SAMPLES, Permission.VIEW_DASHBOARD)


def site_filter(user: Any, *, prefix: str = "") -> Q | None:
    """A Q over sites (or over rows reaching a site through `prefix`, e.g. "site__")
    that `user` may see backfill figures of; None: everywhere."""
    combined = Q(pk__in=[])
    for perm in READERS:
        q = scope_filter(user, perm, place_path=f"{prefix}ward__path", site=f"{prefix}id")
        if q is None:
            return None
        combined |= q
    return combined


def visible_sites(user: Any, campaign: Campaign | None = None) -> QuerySet[Site]:
    sites = Site.objects.select_related("ward", "campaign")
    if campaign is not None:
        sites = sites.filter(campaign=campaign)
    q = site_filter(user)
    return sites if q is None else sites.filter(q)


def backfill_sites(user: Any) -> QuerySet[Site]:
    """Sites where `user` may enter paper tubes (the backfill screen's choice)."""
    sites = Site.objects.select_related("ward", "campaign").order_by("campaign__name", "name")
    q = scope_filter(user, Permission.BACKFILL_SAMPLES, place_path="ward__path", site="id")
    return sites if q is None else sites.filter(q)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) by linear interpolation between closest ranks
    (PostgreSQL's `percentile_cont`); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Figures:
    """Backlog figures of a site, a ward, or all of them."""

    paper_declared: int = 0  # paper tubes the newest declarations still count
    names_missing: int = 0  # names-missing tubes at labs now
    names_missing_oldest: dt.datetime | None = None
    names_missing_max_age_hours: float | None = None
    entries: int = 0  # paper tubes entered late
    delay_hours_median: float | None = None  # paper collection → entered
    delay_hours_p90: float | None = None
    entry_seconds_median: float | None = None  # keyboard work per tube (screen)
    entry_seconds_p90: float | None = None
    labels_issued: int = 0  # labels issued to the site(s)
    labels_used: int = 0  # of which used (a tube has them)
    _delays: list[float] = field(default_factory=list, repr=False)
    _seconds: list[float] = field(default_factory=list, repr=False)

    def add(self, other: Figures) -> None:
        self.paper_declared += other.paper_declared
        self.names_missing += other.names_missing
        if other.names_missing_oldest is not None and (
            self.names_missing_oldest is None
            or other.names_missing_oldest < self.names_missing_oldest
        ):
            self.names_missing_oldest = other.names_missing_oldest
        self.entries += other.entries
        self.labels_issued += other.labels_issued
        self.labels_used += other.labels_used
        self._delays += other._delays
        self._seconds += other._seconds

    def finish(self, now: dt.datetime) -> Figures:
        if self.names_missing_oldest is not None:
            self.names_missing_max_age_hours = (
                now - self.names_missing_oldest
            ).total_seconds() / 3600
        self.delay_hours_median = percentile(self._delays, 50)
        self.delay_hours_p90 = percentile(self._delays, 90)
        self.entry_seconds_median = percentile(self._seconds, 50)
        self.entry_seconds_p90 = percentile(self._seconds, 90)
        return self

    @property
    def alarm(self) -> bool:
        return self.names_missing > 0


@dataclass
class SiteBacklog:
    site: Site
    figures: Figures


@dataclass
class WardBacklog:
    ward: Place
    figures: Figures


@dataclass
class Backlog:
    """`backlog()`'s answer: per site, per ward (sites' wards), and the total."""

    campaign: Campaign
    place: Place | None
    sites: list[SiteBacklog]
    wards: list[WardBacklog]
    total: Figures


def backlog(user: Any, campaign: Campaign, place: Place | str | None = None) -> Backlog:
    """Backfill figures of `campaign`'s sites that `user` may see (BACKFILL_SAMPLES or
    VIEW_DASHBOARD there), under `place` (a Place or a place code) if given.
    Five queries (six with a place code)."""
    now = timezone.now()
    if isinstance(place, str):
        code = place
        place = Place.objects.filter(code=code).order_by("system").first() if code else None
        if code and place is None:
            raise Place.DoesNotExist(code)
    sites_qs = visible_sites(user, campaign)
    if place is not None:
        sites_qs = sites_qs.filter(ward__path__startswith=place.path)
    sites = list(sites_qs.order_by("ward__name", "name"))
    ids = [s.pk for s in sites]
    per_site = {s.pk: Figures() for s in sites}

    latest = PaperBacklog.objects.filter(site=OuterRef("pk")).order_by("-declared_at", "-id")
    declared = {
        row["pk"]: (row["declared_tubes"], row["declared_at"])
        for row in Site.objects.filter(pk__in=ids)
        .annotate(
            declared_tubes=Subquery(latest.values("tubes")[:1]),
            declared_at=Subquery(latest.values("declared_at")[:1]),
        )
        .values("pk", "declared_tubes", "declared_at")
        if row["declared_tubes"] is not None
    }
    entries = LateEntry.objects.filter(site_id__in=ids, campaign=campaign).values_list(
        "site_id", "entered_at", "collected_at", "duration_seconds"
    )
    since_declared: dict[int, int] = {}
    for site_id, entered_at, collected_at, seconds in entries:
        figures = per_site[site_id]
        figures.entries += 1
        figures._delays.append(max(0.0, (entered_at - collected_at).total_seconds() / 3600))
        if seconds is not None:
            figures._seconds.append(seconds)
        at = declared.get(site_id, (0, None))[1]
        if at is not None and entered_at >= at:
            since_declared[site_id] = since_declared.get(site_id, 0) + 1
    for site_id, (tubes, _at) in declared.items():
        per_site[site_id].paper_declared = max(0, tubes - since_declared.get(site_id, 0))
    missing = Tube.objects.filter(
        site_id__in=ids, campaign=campaign, names_missing_since__isnull=False
    ).values_list("site_id", "names_missing_since")
    for site_id, since in missing:
        figures = per_site[site_id]
        figures.names_missing += 1
        if since is None:
            continue
        if figures.names_missing_oldest is None or since < figures.names_missing_oldest:
            figures.names_missing_oldest = since

    issued = (
        TubeLabel.objects.filter(site_id__in=ids, campaign=campaign)
        .values("site_id")
        .annotate(issued=Count("id"), used=Count("id", filter=Q(used_at__isnull=False)))
        .order_by()
    )
    for row in issued:
        per_site[row["site_id"]].labels_issued = row["issued"]
        per_site[row["site_id"]].labels_used = row["used"]

    wards: dict[int, WardBacklog] = {}
    total = Figures()
    for site in sites:
        figures = per_site[site.pk]
        ward = wards.setdefault(site.ward_id, WardBacklog(site.ward, Figures()))
        ward.figures.add(figures)
        total.add(figures)
        figures.finish(now)
    for ward in wards.values():
        ward.figures.finish(now)
    return Backlog(
        campaign=campaign,
        place=place,
        sites=[SiteBacklog(s, per_site[s.pk]) for s in sites],
        wards=list(wards.values()),
        total=total.finish(now),
    )


def names_missing(
    user: Any, campaign: Campaign | None = None, place: Place | None = None
) -> QuerySet[Tube]:
    """Names-missing tubes the user may see, oldest first, with their shipment and
    lab (`shipment_id`, `lab_name`, `received_at`) annotated: one query."""
    tubes = Tube.objects.select_related("site__ward", "campaign").filter(
        names_missing_since__isnull=False
    )
    if campaign is not None:
        tubes = tubes.filter(campaign=campaign)
    if place is not None:
        tubes = tubes.filter(site__ward__path__startswith=place.path)
    q = site_filter(user, prefix="site__")
    if q is not None:
        tubes = tubes.filter(q)
    from swabline.shipping.models import ShipmentTube

    item = ShipmentTube.objects.filter(tube=OuterRef("pk"), active=True)
    return tubes.annotate(
        shipment_id=Subquery(item.values("shipment_id")[:1]),
        lab_name=Subquery(item.values("shipment__lab__name")[:1]),
        received_at=Subquery(item.values("received_at")[:1]),
        result_value=Subquery(_current_results().filter(tube=OuterRef("pk")).values("value")[:1]),
    ).order_by("names_missing_since", "id")


def _current_results() -> QuerySet[Any]:
    from swabline.labs.models import TubeResult

    return TubeResult.objects.filter(current=True)


def waiting_for_names(user: Any) -> int:
    """Names-missing tubes of the sites where `user` may backfill (one query)."""
    q = scope_filter(
        user, Permission.BACKFILL_SAMPLES, place_path="site__ward__path", site="site_id"
    )
    tubes = Tube.objects.filter(names_missing_since__isnull=False)
    return (tubes if q is None else tubes.filter(q)).count()


def recent_entries(user: Any, *, limit: int = 20) -> QuerySet[LateEntry]:
    """The user's last late entries, newest first."""
    return (
        LateEntry.objects.filter(entered_by=user)
        .select_related("tube", "site")
        .order_by("-entered_at", "-id")[:limit]
    )


def unused_labels(site: Site) -> QuerySet[Any]:
    """Labels issued to `site` not used yet."""
    return TubeLabel.objects.filter(site=site, used_at__isnull=True).order_by("code")
