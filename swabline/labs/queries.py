"""Reads for the lab bench: the worklist with its alarms, results awaiting release,
a technician's last entries. Callers have already checked access to the lab."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Subquery, Value, When
from django.utils import timezone

from swabline.labs.enums import ResultState, ResultValue
from swabline.labs.models import Lab, LabCampaignSettings, TubeResult
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube

DEFAULT_WARNING_HOURS = LabCampaignSettings._meta.get_field("worklist_warning_hours").default
DEFAULT_ALARM_HOURS = LabCampaignSettings._meta.get_field("worklist_alarm_hours").default
WORKLIST_LIMIT = 500


def tubes_at_lab(lab: Lab) -> models.QuerySet[Tube]:
    """Tubes received at `lab` through a received shipment (any later status), with
    `received_at`. The shipping app owns the rule; this falls back to the same query
    while its module is not there."""
    try:
        from swabline.shipping.queries import tubes_at_lab as shipping_tubes_at_lab
    except ImportError:
        return _tubes_at_lab(lab)
    return shipping_tubes_at_lab(lab)


def _tubes_at_lab(lab: Lab) -> models.QuerySet[Tube]:
    from swabline.shipping.enums import ShipmentStatus
    from swabline.shipping.models import ShipmentTube

    items = ShipmentTube.objects.filter(
        tube=OuterRef("pk"),
        active=True,
        received_at__isnull=False,
        shipment__lab=lab,
        shipment__status=ShipmentStatus.RECEIVED,
    )
    return Tube.objects.filter(
        Exists(items),
        status__in=[
            TubeStatus.RECEIVED,
            TubeStatus.RESULTED,
            TubeStatus.RELEASED,
            TubeStatus.REJECTED,
        ],
    ).annotate(received_at=Subquery(items.values("received_at")[:1]))


def on_its_way(lab: Lab, tube: Tube) -> bool:
    """Is `tube` on a live shipment to `lab` that the lab has not received yet?"""
    from swabline.shipping.enums import ShipmentStatus
    from swabline.shipping.models import ShipmentTube

    return ShipmentTube.objects.filter(
        tube=tube,
        active=True,
        shipment__lab=lab,
        shipment__status__in=[ShipmentStatus.PACKING, ShipmentStatus.IN_TRANSIT],
    ).exists()


def awaiting_result(lab: Lab) -> models.QuerySet[Tube]:
    """Tubes at `lab` without a current result: received, or resulted whose entered
    result was undone. Oldest received first."""
    current = TubeResult.objects.filter(tube=OuterRef("pk"), current=True)
    return (
        tubes_at_lab(lab)
        .filter(status__in=[TubeStatus.RECEIVED, TubeStatus.RESULTED])
        .exclude(Exists(current))
        .order_by(F("received_at").asc(nulls_last=True), "id")
    )


@dataclass(frozen=True)
class WorklistRow:
    tube: Tube
    received_at: dt.datetime | None
    hours: float
    level: str  # "ok", "warning" or "alarm"


def alarm_hours(campaign_ids: set[int]) -> dict[int, tuple[int, int]]:
    """(warning, alarm) hours per campaign, defaults where a campaign has none."""
    found = {
        s.campaign_id: (s.worklist_warning_hours, s.worklist_alarm_hours)
        for s in LabCampaignSettings.objects.filter(campaign_id__in=campaign_ids)
    }
    return {c: found.get(c, (DEFAULT_WARNING_HOURS, DEFAULT_ALARM_HOURS)) for c in campaign_ids}


def worklist(
    lab: Lab, *, limit: int = WORKLIST_LIMIT, now: dt.datetime | None = None
) -> list[WorklistRow]:
    """The oldest `limit` tubes awaiting a result, with their age and alarm level."""
    now = now or timezone.now()
    tubes = list(awaiting_result(lab).select_related("campaign")[:limit])
    hours_of = alarm_hours({t.campaign_id for t in tubes})
    rows = []
    for tube in tubes:
        received_at = getattr(tube, "received_at", None)
        hours = (now - received_at).total_seconds() / 3600 if received_at else 0.0
        warning, alarm = hours_of[tube.campaign_id]
        level = "alarm" if hours >= alarm else "warning" if hours >= warning else "ok"
        rows.append(WorklistRow(tube, received_at, hours, level))
    return rows


def awaiting_release(lab: Lab) -> models.QuerySet[TubeResult]:
    """Entered results of `lab` awaiting release: positives first, then invalid, then
    negatives; oldest first within each."""
    order = Case(
        When(value=ResultValue.POSITIVE, then=Value(0)),
        When(value=ResultValue.INVALID, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        TubeResult.objects.filter(lab=lab, current=True, state=ResultState.ENTERED)
        .select_related("tube", "tube__campaign", "entered_by")
        .annotate(rank=order)
        .order_by("rank", "entered_at", "id")
    )


def recent_entries(lab: Lab, user: Any, *, limit: int = 15) -> models.QuerySet[TubeResult]:
    """The user's last results at `lab`, newest first (discarded ones included)."""
    return (
        TubeResult.objects.filter(lab=lab, entered_by=user)
        .select_related("tube")
        .order_by("-entered_at", "-id")[:limit]
    )


def lab_counts(lab: Lab) -> dict[str, int]:
    """Numbers for the lab's home page."""
    release = awaiting_release(lab).values("value").annotate(n=models.Count("id"))
    by_value = {row["value"]: row["n"] for row in release}
    return {
        "awaiting_result": awaiting_result(lab).count(),
        "awaiting_release": sum(by_value.values()),
        "positive": by_value.get(ResultValue.POSITIVE, 0),
    }


def history(tube: Tube) -> models.QuerySet[TubeResult]:
    """Every result a tube ever had, oldest first."""
    return (
        TubeResult.objects.filter(tube=tube)
        .select_related("entered_by", "released_by")
        .order_by("entered_at", "id")
    )
