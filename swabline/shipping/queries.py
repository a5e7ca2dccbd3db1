"""Reads about shipments, already narrowed to what the user may see.

A shipment is seen from both ends: the site's staff (MANAGE_SHIPMENTS, site grants)
and the destination lab's (RECEIVE_TUBES, lab grants; only once it has left the
site). Lists run a fixed number of queries whatever their length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission, scoped
from swabline.campaigns.models import Site
from swabline.labs.models import Lab
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Sample, Tube
from swabline.shipping.enums import DiscrepancyKind, ShipmentStatus
from swabline.shipping.models import ReceiptDiscrepancy, ReceiptScan, Shipment, ShipmentTube

LAB_STATUSES = (ShipmentStatus.IN_TRANSIT, ShipmentStatus.RECEIVED)


def tubes_at_lab(lab: Lab) -> QuerySet[Tube]:
    """Tubes received at `lab` through a received shipment, in any later status
    (received, resulted, released, rejected), annotated `received_at` (when the tube
    came in: the receipt, or later for a tube that arrived late). A tube is on one
    live shipment at most (partial unique index), so the join yields one row per tube."""
    return Tube.objects.filter(
        shipments__active=True,
        shipments__received_at__isnull=False,
        shipments__shipment__lab=lab,
        shipments__shipment__status=ShipmentStatus.RECEIVED,
    ).annotate(received_at=F("shipments__received_at"))


def _base() -> QuerySet[Shipment]:
    return Shipment.objects.select_related("site__ward", "lab", "campaign").annotate(
        tube_count=Count("items", filter=Q(items__active=True))
    )


def site_shipments(user: Any) -> QuerySet[Shipment]:
    """Shipments of the sites where `user` manages shipments, newest first."""
    return scoped(
        _base(), user, Permission.MANAGE_SHIPMENTS, place_path="site__ward__path", site="site_id"
    )


def lab_shipments(user: Any) -> QuerySet[Shipment]:
    """Shipments that left for the labs where `user` receives tubes, newest first."""
    return scoped(
        _base().filter(status__in=LAB_STATUSES),
        user,
        Permission.RECEIVE_TUBES,
        place_path="site__ward__path",
        lab="lab_id",
    )


def shipping_sites(user: Any) -> QuerySet[Site]:
    """Sites where `user` may pack shipments."""
    sites = Site.objects.select_related("campaign", "ward")
    return scoped(
        sites, user, Permission.MANAGE_SHIPMENTS, place_path="ward__path", site="id"
    ).order_by("campaign__name", "name")


def receiving_labs(user: Any) -> QuerySet[Lab]:
    return scoped(
        Lab.objects.select_related("place"),
        user,
        Permission.RECEIVE_TUBES,
        place_path="place__path",
        lab="id",
    )


def get_shipment(user: Any, public_id: Any, *, perm: Permission | None = None) -> Shipment:
    """The shipment if `user` may see it from the site (MANAGE_SHIPMENTS) or from the
    lab (RECEIVE_TUBES, once handed over), or with `perm` only; else 404."""
    try:
        shipment = _base().filter(public_id=public_id).first()
    except (ValueError, TypeError) as exc:
        raise Http404 from exc
    if shipment is None or not may_see(user, shipment, perm=perm):
        raise Http404
    return shipment


def may_see(user: Any, shipment: Shipment, *, perm: Permission | None = None) -> bool:
    site_side = perm in (None, Permission.MANAGE_SHIPMENTS) and has_permission(
        user, Permission.MANAGE_SHIPMENTS, shipment
    )
    lab_side = (
        perm in (None, Permission.RECEIVE_TUBES)
        and shipment.status in LAB_STATUSES
        and has_permission(user, Permission.RECEIVE_TUBES, shipment)
    )
    return site_side or lab_side


@dataclass
class ManifestTube:
    code: str
    kind: str
    status: str
    member_count: int
    closed_at: Any
    scanned_at: Any
    people: list[tuple[str, int]] = field(default_factory=list)


def manifest(shipment: Shipment, *, with_people: bool = True) -> list[ManifestTube]:
    """The tubes on `shipment` in packing order, with their people (name, year of
    birth) in position order: two queries whatever the size."""
    items = (
        ShipmentTube.objects.filter(shipment=shipment, active=True)
        .order_by("id")
        .values_list(
            "tube_id",
            "tube__code",
            "tube__kind",
            "tube__status",
            "tube__member_count",
            "tube__closed_at",
            "scanned_at",
        )
    )
    tubes = {row[0]: ManifestTube(*row[1:]) for row in items}
    if with_people and tubes:
        samples = (
            Sample.objects.filter(tube_id__in=list(tubes), active=True)
            .order_by("tube_id", "position")
            .values_list("tube_id", "person__full_name", "person__birth_year")
        )
        for tube_id, name, year in samples:
            tubes[tube_id].people.append((name, year))
    return list(tubes.values())


@dataclass
class ReceiptState:
    """What the receipt screen shows while the lab scans a box."""

    found: list[str]
    missing: list[str]
    unexpected: list[str]
    other_campaign: list[str]
    not_closed: list[str]
    unknown: list[str]
    rejected: list[str]

    @property
    def total(self) -> int:
        return len(self.found) + len(self.missing)


def receipt_state(shipment: Shipment) -> ReceiptState:
    """Found / missing tubes of the manifest and the scans that are not on it (three
    queries). For a received shipment: what was recorded."""
    found, missing, rejected = [], [], []
    items = ShipmentTube.objects.filter(shipment=shipment, active=True).order_by("tube__code")
    for code, scanned, status in items.values_list("tube__code", "scanned_at", "tube__status"):
        if status == TubeStatus.REJECTED:
            rejected.append(code)
        if scanned is not None or status == TubeStatus.RECEIVED:
            found.append(code)
        elif status != TubeStatus.REJECTED:
            missing.append(code)
    state = ReceiptState(found, missing, [], [], [], [], rejected)
    lists: dict[str, list[str]] = {
        DiscrepancyKind.UNEXPECTED: state.unexpected,
        DiscrepancyKind.OTHER_CAMPAIGN: state.other_campaign,
        DiscrepancyKind.NOT_CLOSED: state.not_closed,
        DiscrepancyKind.UNKNOWN_LABEL: state.unknown,
    }
    if shipment.status == ShipmentStatus.RECEIVED:
        rows = ReceiptDiscrepancy.objects.filter(shipment=shipment).exclude(
            kind=DiscrepancyKind.MISSING
        )
        for kind, code in rows.order_by("tube_code").values_list("kind", "tube_code"):
            lists[kind].append(code)
        return state
    on_manifest = ShipmentTube.objects.filter(shipment=shipment, active=True).values("tube_id")
    extra = (
        ReceiptScan.objects.filter(shipment=shipment)
        .filter(Q(tube__isnull=True) | ~Q(tube_id__in=on_manifest))
        .order_by("code")
        .values_list("code", "tube_id", "tube__status", "tube__campaign_id")
    )
    for code, tube_id, status, campaign_id in extra:
        if tube_id is None:
            state.unknown.append(code)
        elif status in (TubeStatus.OPEN, TubeStatus.VOID):
            state.not_closed.append(code)
        elif campaign_id != shipment.campaign_id:
            state.other_campaign.append(code)
        else:
            state.unexpected.append(code)
    return state


def open_discrepancy_counts(shipment_ids: list[int]) -> dict[int, int]:
    """Shipment id → how many of its discrepancies are not resolved (one query)."""
    rows = (
        ReceiptDiscrepancy.objects.filter(shipment_id__in=shipment_ids, resolved_at__isnull=True)
        .values("shipment_id")
        .annotate(n=Count("id"))
        .values_list("shipment_id", "n")
    )
    return dict(rows)


def discrepancies(shipment: Shipment) -> QuerySet[ReceiptDiscrepancy]:
    return ReceiptDiscrepancy.objects.filter(shipment=shipment).order_by("kind", "tube_code")
