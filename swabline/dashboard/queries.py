"""Reads of the command center, already scoped: progress from the rollups, the
backlog alarms and the tubes or people behind each.

Progress reads only rollups and small tables (campaign wards, sites, places): a
fixed number of queries whatever the number of samples (DESIGN §9). Alarms need
each tube's age, so they read the tube table, but only at the sites whose
counters say they have a tube at that step (and through the indexed campaign,
site, status): a province with nothing waiting costs no alarm query at all.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import grants_for, has_permission
from swabline.campaigns.models import Campaign, CampaignWard, Site
from swabline.dashboard import metrics
from swabline.dashboard.models import AlarmThresholds, HourCount, SiteCount, WardCount
from swabline.dashboard.services import thresholds
from swabline.labs.models import TubeResult
from swabline.places.enums import Level
from swabline.places.models import Place
from swabline.results.enums import OutcomeState
from swabline.results.models import Outcome
from swabline.results.queries import PENDING_TUBE_STATUSES
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Sample, Tube
from swabline.shipping.models import ShipmentTube

PERM = Permission.VIEW_DASHBOARD
STATUSES = tuple(TubeStatus.values)
SAMPLED_STATUSES = tuple(s for s in STATUSES if s != TubeStatus.VOID)


def campaigns(user: Any) -> QuerySet[Campaign]:
    """Campaigns whose province overlaps a place where `user` may view the dashboard."""
    q = Q(pk__in=[])
    for g in grants_for(user, PERM):
        if g.place_path is None:
            return _with_related(Campaign.objects.all())
        head = "/".join(g.place_path.split("/")[:2]) + "/"  # the grant's province
        q |= Q(province__path=head)
    return _with_related(Campaign.objects.filter(q))


def _with_related(qs: QuerySet[Campaign]) -> QuerySet[Campaign]:
    return qs.select_related("province", "alarm_thresholds").order_by("-starts_on", "name")


def default_place(user: Any, campaign: Campaign) -> Place:
    """The highest place of `campaign`'s province the user may see (404 if none)."""
    province = campaign.province
    if has_permission(user, PERM, province):
        return province
    paths = sorted(
        (g.place_path for g in grants_for(user, PERM) if g.place_path),
        key=len,
    )
    for path in paths:
        if path.startswith(province.path):
            found = Place.objects.filter(path=path).first()
            if found is not None:
                return found
    raise Http404


def resolve_place(user: Any, campaign: Campaign, code: str | None) -> Place:
    """The place of `campaign`'s province with this code that `user` may see; the
    default place without a code. Out of scope or unknown: 404."""
    if not code:
        return default_place(user, campaign)
    place = (
        Place.objects.filter(code=code, path__startswith=campaign.province.path)
        .order_by("path")
        .first()
    )
    if place is None or not has_permission(user, PERM, place):
        raise Http404
    return place


@dataclass
class Figures:
    """The numbers of one place or site (None: not meaningful at that level)."""

    target: int | None = None
    registered: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    alarms: int = 0

    def add(self, other: Figures) -> None:
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        self.alarms += other.alarms

    def n(self, metric: str) -> int:
        return self.counts.get(metric, 0)

    @property
    def people_sampled(self) -> int:
        return self.n(metrics.PEOPLE_SAMPLED)

    @property
    def samples(self) -> int:
        return self.n(metrics.SAMPLES)

    def tubes(self, status: str) -> int:
        return self.n(metrics.TUBE[status])

    @property
    def tubes_by_status(self) -> dict[str, int]:
        return {s: self.tubes(s) for s in STATUSES}

    @property
    def tubes_sampled(self) -> int:
        """Tubes that hold samples: every tube but cancelled ones."""
        return sum(self.tubes(s) for s in SAMPLED_STATUSES)

    @property
    def positive_pools(self) -> int:
        return self.n(metrics.POSITIVE_POOLS)

    @property
    def positive_people(self) -> int:
        return self.n(metrics.OUTCOME[OutcomeState.POSITIVE])

    @property
    def recall_pending(self) -> int:
        return self.n(metrics.OUTCOME[OutcomeState.RECALL])

    @property
    def recollect_pending(self) -> int:
        return self.n(metrics.OUTCOME[OutcomeState.RECOLLECT])

    @property
    def negative_people(self) -> int:
        return self.n(metrics.OUTCOME[OutcomeState.NEGATIVE])

    @property
    def coverage(self) -> float | None:
        """People sampled as a percentage of the target (one decimal)."""
        if not self.target:
            return None
        return round(100 * self.people_sampled / self.target, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_population": self.target,
            "registered": self.registered,
            "people_sampled": self.people_sampled,
            "samples": self.samples,
            "tubes_sampled": self.tubes_sampled,
            "tubes": self.tubes_by_status,
            "positive_pools": self.positive_pools,
            "positive_people": self.positive_people,
            "recall_pending": self.recall_pending,
            "recollect_pending": self.recollect_pending,
            "coverage_percent": self.coverage,
            "alarms": self.alarms,
        }


@dataclass
class Row:
    """One line of the drill-down: a child place, or a site of a ward."""

    label: str
    code: str  # the place's code, or the site's public id
    is_site: bool
    figures: Figures


# --- Alarms --------------------------------------------------------------------------

ALARM_KINDS: dict[str, tuple[str | Promise, str]] = {
    "open": (_("Tubes open too long"), TubeStatus.OPEN),
    "closed": (_("Closed but not shipped"), TubeStatus.CLOSED),
    "shipped": (_("Shipped but not received"), TubeStatus.SHIPPED),
    "received": (_("Received but not resulted"), TubeStatus.RECEIVED),
    "resulted": (_("Resulted but not released"), TubeStatus.RESULTED),
    "recall": (_("Recalled but not resampled"), ""),
}
NAMES_MISSING = "names_missing"
# Added by the backfill work (issue #9); read by name so this app works before it.


@dataclass
class Alarm:
    kind: str
    label: str | Promise
    count: int
    threshold_minutes: int | None


def alarm_rows(
    campaign: Campaign,
    kind: str,
    site_ids: list[int] | QuerySet[Any],
    now: dt.datetime | None = None,
    limits: AlarmThresholds | None = None,
) -> QuerySet[Any]:
    """The tubes (or, for `recall`, the current outcomes) behind alarm `kind` at
    `site_ids`, past the campaign's threshold at `now`."""
    now = now or timezone.now()
    limits = limits or thresholds(campaign)
    if kind == "recall":
        cutoff = now - dt.timedelta(minutes=limits.recall_minutes)
        newer = Sample.objects.filter(
            person_id=OuterRef("person_id"),
            campaign_id=OuterRef("campaign_id"),
            active=True,
            id__gt=OuterRef("sample_id"),
            tube__status__in=PENDING_TUBE_STATUSES,
        )
        return Outcome.objects.filter(
            campaign=campaign,
            current=True,
            state=OutcomeState.RECALL,
            decided_at__lt=cutoff,
            tube__site_id__in=site_ids,
        ).exclude(Exists(newer))
    if kind == NAMES_MISSING:
        missing = {"names_missing_since__isnull": False}
        return Tube.objects.filter(campaign=campaign, site_id__in=site_ids, **missing)
    status = ALARM_KINDS[kind][1]
    minutes = getattr(limits, f"{kind}_minutes")
    cutoff = now - dt.timedelta(minutes=minutes)
    tubes = Tube.objects.filter(campaign=campaign, site_id__in=site_ids, status=status)
    if kind == "open":
        return tubes.filter(opened_at__lt=cutoff)
    if kind == "closed":
        return tubes.filter(closed_at__lt=cutoff)
    since: QuerySet[Any]
    if kind == "shipped":
        since = ShipmentTube.objects.filter(
            tube_id=OuterRef("pk"), shipment__handed_over_at__lt=cutoff
        )
    elif kind == "received":
        since = ShipmentTube.objects.filter(tube_id=OuterRef("pk"), received_at__lt=cutoff)
    else:
        since = TubeResult.objects.filter(
            tube_id=OuterRef("pk"), current=True, entered_at__lt=cutoff
        )
    return tubes.filter(Exists(since))


BACKLOG_METRICS = {
    kind: metrics.TUBE[status] for kind, (_label, status) in ALARM_KINDS.items() if status
}


@dataclass(frozen=True)
class Scope:
    """Where the figures are read: a campaign, and a place subtree or one site.
    `whole` (the campaign's whole province) needs no join to filter the rollups."""

    campaign: Campaign
    place: Place
    site: Site | None

    @property
    def whole(self) -> bool:
        return self.site is None and self.place.path == self.campaign.province.path

    def q(self, prefix: str = "") -> Q:
        """Narrows a rollup (or any row with a site) to the scope."""
        if self.site is not None:
            return Q(**{f"{prefix}site": self.site})
        if self.whole:
            return Q()
        return Q(**{f"{prefix}site__ward__path__startswith": self.place.path})

    def sites(self) -> QuerySet[Site]:
        sites = Site.objects.filter(campaign=self.campaign)
        if self.site is not None:
            return sites.filter(pk=self.site.pk)
        return sites if self.whole else sites.filter(ward__path__startswith=self.place.path)


def alarms(
    scope: Scope, now: dt.datetime | None = None
) -> tuple[list[Alarm], dict[tuple[int, str], int]]:
    """Each alarm's count in `scope`, and the alarms per (site, ward path). The
    rollups name the sites that have anything at each step (two queries); then one
    grouped query per alarm that has such sites (none when nothing waits)."""
    campaign = scope.campaign
    limits = thresholds(campaign)
    candidates: dict[str, list[int]] = defaultdict(list)
    by_metric = {m: k for k, m in BACKLOG_METRICS.items()}
    # The counters' keys lead with the province (decision 0015): name it in every read.
    waiting = SiteCount.objects.filter(
        scope.q(),
        province_code=campaign.province_code,
        campaign=campaign,
        metric__in=list(by_metric),
        n__gt=0,
    ).values_list("site_id", "metric")
    for site_id, metric in waiting:
        candidates[by_metric[metric]].append(site_id)
    # Recalls: the hourly counter of current recalls by decision time names the sites
    # holding one older than the threshold (a province can hold 200,000 fresh ones).
    now = now or timezone.now()
    cutoff = now - dt.timedelta(minutes=limits.recall_minutes)
    candidates["recall"] = list(
        HourCount.objects.filter(
            scope.q(),
            province_code=campaign.province_code,
            campaign=campaign,
            metric=metrics.RECALL,
            hour__lte=cutoff,
            n__gt=0,
        )
        .values_list("site_id", flat=True)
        .distinct()
    )
    found: list[Alarm] = []
    by_site: dict[tuple[int, str], int] = defaultdict(int)
    kinds = [NAMES_MISSING, *ALARM_KINDS]
    for kind in kinds:
        sites: QuerySet[Site] | list[int] = (
            scope.sites().values("pk") if kind == NAMES_MISSING else candidates[kind]  # type: ignore[assignment]
        )
        total = 0
        if kind == NAMES_MISSING or sites:
            rows = alarm_rows(campaign, kind, sites, now, limits)
            site = "tube__site" if kind == "recall" else "site"
            grouped = rows.values_list(f"{site}_id", f"{site}__ward__path").annotate(n=Count("id"))
            for site_id, path, n in grouped.order_by():
                by_site[(site_id, path)] += n
                total += n
        label = _("Names missing") if kind == NAMES_MISSING else ALARM_KINDS[kind][0]
        minutes = None if kind == NAMES_MISSING else getattr(limits, f"{kind}_minutes")
        found.append(Alarm(kind, label, total, minutes))
    return found, dict(by_site)


# --- Progress ------------------------------------------------------------------------


@dataclass
class Progress:
    campaign: Campaign
    place: Place
    site: Site | None
    totals: Figures
    rows: list[Row]
    alarms: list[Alarm]
    hours: list[dt.datetime]
    sampled_per_hour: list[int]
    released_per_hour: list[int]
    trail: list[Place]


def _child_path(place: Place, ward_path: str) -> str:
    depth = place.path.count("/")  # "/12/" → 2; its children have one more segment
    parts = ward_path.split("/")
    return "/".join(parts[: depth + 1]) + "/"


def progress(user: Any, campaign: Campaign, place: Place, site: Site | None = None) -> Progress:
    """The figures of `place` (or of one `site` in it) in `campaign`, with one row
    per child place (per site for a ward), the alarms and the hourly series.
    The caller has checked that `user` may see `place` (`resolve_place`).

    With `DASHBOARD_CACHE_SECONDS` the figures (not the user's trail) are shared for
    that long by everyone who may see the place; by default they are computed on
    every request.

    Above a ward the counters are summed per ward in the database (a province of
    1,000 sites returns ~100 × 15 numbers, not 15,000)."""
    seconds = settings.DASHBOARD_CACHE_SECONDS
    key = f"dashboard:progress:{campaign.pk}:{place.pk}:{site.pk if site else 0}"
    computed = cache.get(key) if seconds else None
    if computed is None:
        computed = _compute(Scope(campaign, place, site))
        if seconds:
            cache.set(key, computed, seconds)
    totals, rows, found, (hours, sampled, released) = computed
    trail = [
        p
        for p in Place.objects.filter(
            path__in=_ancestors(place.path), path__startswith=campaign.province.path
        ).order_by("path")
        if has_permission(user, PERM, p)
    ]
    return Progress(
        campaign=campaign,
        place=place,
        site=site,
        totals=totals,
        rows=sorted(rows, key=lambda r: r.label),
        alarms=found,
        hours=hours,
        sampled_per_hour=sampled,
        released_per_hour=released,
        trail=trail,
    )


def _compute(scope: Scope) -> tuple[Any, ...]:
    """Everything of `progress` that does not depend on who asks."""
    found, alarm_by_site = alarms(scope)
    if scope.site is not None or scope.place.level == Level.WARD:
        rows, totals = _site_rows(scope, alarm_by_site)
    else:
        rows, totals = _place_rows(scope, alarm_by_site)
    return totals, rows, found, _series(scope)


def _site_rows(
    scope: Scope, alarm_by_site: dict[tuple[int, str], int]
) -> tuple[list[Row], Figures]:
    sites = {s.pk: s for s in scope.sites()}
    per_site = {pk: Figures() for pk in sites}
    counts = SiteCount.objects.filter(
        scope.q(), province_code=scope.campaign.province_code, campaign=scope.campaign
    ).values_list("site_id", "metric", "n")
    for site_id, metric, n in counts:
        if site_id in per_site:
            per_site[site_id].counts[metric] = n
    for (site_id, _path), n in alarm_by_site.items():
        if site_id in per_site:
            per_site[site_id].alarms += n
    totals = Figures()
    for f in per_site.values():
        totals.add(f)
    if scope.site is None:
        ward = CampaignWard.objects.filter(campaign=scope.campaign, ward=scope.place).first()
        totals.target = ward.target_population if ward else 0
        counted = WardCount.objects.filter(ward=scope.place).first()
        totals.registered = counted.registered if counted else 0
    rows = [Row(s.name, str(s.public_id), True, per_site[s.pk]) for s in sites.values()]
    return rows, totals


def _place_rows(
    scope: Scope, alarm_by_site: dict[tuple[int, str], int]
) -> tuple[list[Row], Figures]:
    campaign, place = scope.campaign, scope.place
    children = {p.path: p for p in Place.objects.filter(parent=place)}
    rows: dict[str, Row] = {}

    def row(ward_path: str) -> Row | None:
        child = children.get(_child_path(place, ward_path))
        if child is None:
            return None
        return rows.setdefault(
            child.path, Row(child.name, child.code, False, Figures(target=0, registered=0))
        )

    targets = dict(
        CampaignWard.objects.filter(
            campaign=campaign, ward__path__startswith=place.path
        ).values_list("ward__path", "target_population")
    )
    registered = dict(
        WardCount.objects.filter(ward__path__in=list(targets)).values_list(
            "ward__path", "registered"
        )
    )
    for ward_path, target in targets.items():
        found = row(ward_path)
        if found is not None:
            found.figures.target = (found.figures.target or 0) + target
            found.figures.registered = (found.figures.registered or 0) + registered.get(
                ward_path, 0
            )
    summed = (
        SiteCount.objects.filter(scope.q(), province_code=campaign.province_code, campaign=campaign)
        .values_list("site__ward__path", "metric")
        .annotate(total=Sum("n"))
        .order_by()
    )
    for ward_path, metric, total in summed:
        found = row(ward_path)
        if found is not None:
            found.figures.counts[metric] = found.figures.counts.get(metric, 0) + total
    for (_site_id, ward_path), n in alarm_by_site.items():
        found = row(ward_path)
        if found is not None:
            found.figures.alarms += n
    totals = Figures(target=0, registered=0)
    for r in rows.values():
        totals.add(r.figures)
        totals.target = (totals.target or 0) + (r.figures.target or 0)
        totals.registered = (totals.registered or 0) + (r.figures.registered or 0)
    return list(rows.values()), totals


def _ancestors(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def _series(scope: Scope) -> tuple[list[dt.datetime], list[int], list[int]]:
    """People sampled and results released per hour (UTC hours, every hour between
    the first and the last one with a count, at most the last 72)."""
    rows = (
        HourCount.objects.filter(
            scope.q(), province_code=scope.campaign.province_code, campaign=scope.campaign
        )
        .values_list("hour", "metric")
        .annotate(total=Sum("n"))
        .order_by()
    )
    per: dict[str, dict[dt.datetime, int]] = {metrics.SAMPLES: {}, metrics.RELEASED: {}}
    for hour, metric, total in rows:
        if metric in per and total:
            per[metric][hour] = total
    known = set(per[metrics.SAMPLES]) | set(per[metrics.RELEASED])
    if not known:
        return [], [], []
    last = max(known)
    first = max(min(known), last - dt.timedelta(hours=71))
    hours = []
    at = first
    while at <= last:
        hours.append(at)
        at += dt.timedelta(hours=1)
    return (
        hours,
        [per[metrics.SAMPLES].get(h, 0) for h in hours],
        [per[metrics.RELEASED].get(h, 0) for h in hours],
    )


def site_in(campaign: Campaign, place: Place, public_id: str | None) -> Site | None:
    """The site with this public id in `place`'s subtree (404 if not there)."""
    if not public_id:
        return None
    try:
        return Site.objects.select_related("ward").get(
            campaign=campaign, public_id=public_id, ward__path__startswith=place.path
        )
    except (Site.DoesNotExist, ValueError, ValidationError) as exc:
        raise Http404 from exc


def sites_in(campaign: Campaign, place: Place, site: Site | None) -> list[int]:
    qs = Site.objects.filter(campaign=campaign, ward__path__startswith=place.path)
    if site is not None:
        qs = qs.filter(pk=site.pk)
    return list(qs.values_list("pk", flat=True))
