"""Reads about sampling, already narrowed to what the user may see.

`site_overview` is the ward's view of its sites on a campaign day: a fixed number
of queries whatever the number of sites (grouped over tubes, never over samples).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.http import Http404

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission, scoped
from swabline.campaigns.enums import CampaignStatus
from swabline.campaigns.models import Campaign, Site
from swabline.sampling.enums import Fate, TubeStatus
from swabline.sampling.models import DeviceSync, Sample, StationEvent, Tube


def capture_sites(user: Any) -> QuerySet[Site]:
    """Sites where `user` may capture samples, in campaigns that are not closed."""
    sites = Site.objects.select_related("campaign", "ward").exclude(
        campaign__status=CampaignStatus.CLOSED
    )
    return scoped(
        sites, user, Permission.CAPTURE_SAMPLES, place_path="ward__path", site="id"
    ).order_by("campaign__name", "name")


def may_see_tube(user: Any, tube: Tube) -> bool:
    return has_permission(user, Permission.CAPTURE_SAMPLES, tube) or has_permission(
        user, Permission.VIEW_SITES, tube
    )


def get_tube(user: Any, code: str) -> Tube:
    """The tube with this label if `user` may capture or view sites there; else 404."""
    tube = Tube.objects.select_related("site__ward", "campaign").filter(code=code).first()
    if tube is None or not may_see_tube(user, tube):
        raise Http404
    return tube


def tube_members(tube: Tube) -> list[Sample]:
    """The tube's active samples in position order, with their people."""
    return list(
        tube.samples.filter(active=True)
        .select_related("person")
        .only(
            "position",
            "kind",
            "collected_at",
            "person__public_id",
            "person__full_name",
            "person__birth_year",
        )
        .order_by("position")
    )


@dataclass
class DeviceStatus:
    device_id: str
    user: str
    last_sync_at: dt.datetime
    pending_conflicts: int


@dataclass
class SiteStatus:
    """One site on one campaign, as its ward sees it."""

    site: Site
    tubes_open: int = 0
    tubes_closed: int = 0  # closed and later: shipped, received, resulted, released
    tubes_void: int = 0  # cancelled at the site
    tubes_rejected: int = 0  # refused by the lab: their people are to be sampled again
    people_sampled: int = 0  # people in open and closed tubes (from the tubes' counts)
    conflicts_pending: int = 0
    devices: list[DeviceStatus] = field(default_factory=list)

    @property
    def last_sync_at(self) -> dt.datetime | None:
        return max((d.last_sync_at for d in self.devices), default=None)


def site_overview(user: Any, campaign: Campaign) -> list[SiteStatus]:
    """Per site of `campaign` that `user` may view: tubes open and closed, people
    sampled, conflicts pending, last sync per device. Four queries."""
    sites = list(
        scoped(
            Site.objects.filter(campaign=campaign).select_related("ward"),
            user,
            Permission.VIEW_SITES,
            place_path="ward__path",
            site="id",
        ).order_by("name")
    )
    status = {s.pk: SiteStatus(site=s) for s in sites}
    if not status:
        return []
    _count_tubes(campaign, status)
    conflicts = (
        StationEvent.objects.filter(
            site_id__in=status, fate=Fate.CONFLICT, resolved_at__isnull=True
        )
        .values("site_id")
        .annotate(n=Count("pk"))
    )
    for row in conflicts:
        status[row["site_id"]].conflicts_pending = row["n"]
    devices = DeviceSync.objects.filter(site_id__in=status).select_related("user")
    for device in devices.order_by("-last_sync_at"):
        status[device.site_id].devices.append(
            DeviceStatus(
                device.device_id,
                device.user.username,
                device.last_sync_at,
                device.pending_conflicts,
            )
        )
    return list(status.values())


def _count_tubes(campaign: Campaign, status: dict[int, SiteStatus]) -> None:
    rows = (
        Tube.objects.filter(campaign=campaign, site_id__in=status)
        .values("site_id", "status")
        .annotate(n=Count("pk"), people=Sum("member_count"))
    )
    for row in rows:
        entry = status[row["site_id"]]
        if row["status"] == TubeStatus.VOID:
            entry.tubes_void += row["n"]
        elif row["status"] == TubeStatus.REJECTED:
            entry.tubes_rejected += row["n"]
        else:
            entry.people_sampled += row["people"] or 0
            if row["status"] == TubeStatus.OPEN:
                entry.tubes_open += row["n"]
            else:
                entry.tubes_closed += row["n"]


def open_conflicts(user: Any, site: Site) -> QuerySet[StationEvent]:
    """The site's unresolved conflicts, newest first, if `user` may view the site."""
    if not (
        has_permission(user, Permission.VIEW_SITES, site)
        or has_permission(user, Permission.CAPTURE_SAMPLES, site)
    ):
        return StationEvent.objects.none()
    return (
        StationEvent.objects.filter(site=site, fate=Fate.CONFLICT, resolved_at__isnull=True)
        .select_related("person", "user")
        .order_by("-received_at")
    )
