"""Writes about shipments: packing at the site, hand-over, receipt and rejection at the lab.

Every function takes keyword arguments, checks the caller's permission, and runs in
one transaction with its audit events inside it. Shipment statuses move only through
`transition` (table: `enums.ALLOWED_TRANSITIONS`). Tube statuses move set-based, with
one UPDATE per shipment, never a query per tube; the database trigger on tubes holds
the same table as `swabline.sampling.enums.ALLOWED_TRANSITIONS`.

What happens at receipt (the rules the lab sees on the bench screen):

- A tube on the manifest that was scanned out of the box is *found*: it moves
  `shipped → received`.
- A tube on the manifest that was not scanned is *missing*: it stays `shipped`, on
  this shipment, and a `missing` discrepancy is recorded. If it turns up later, scanning
  it on the received shipment (`receive_late_tube`) receives it then and marks the
  discrepancy resolved.
- A scanned code that is not on the manifest is recorded as *unknown label* (no tube
  has it), *not closed* (an open or cancelled tube), *other campaign*, or
  *unexpected*. None of these changes status. An unexpected tube that is on another
  shipment already on its way to the same lab is marked found in that shipment
  (`scanned_at`), so that shipment's receipt counts it as arrived instead of missing;
  it becomes `received` when that shipment is received.
- A scanned code that no tube has but that is a label issued to a site of the
  shipment's campaign and never used is a paper tube whose names are not entered
  yet: it is *accepted as names missing* (not rejected). A tube is made for it
  (the label's site, the campaign's pool limit, nobody in it, `names_missing_since`
  set), put on this shipment and received with the others, and a `names_missing`
  discrepancy says so. The lab can test it; its result is released only after the
  names are backfilled (`swabline.backfill.services`).
- Receiving twice changes nothing and answers the first receipt.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.campaigns.models import Site
from swabline.labs.models import Lab
from swabline.sampling.codes import (
    CODE_LENGTH,
    is_valid_damm,
    looks_generated,
    normalize_tube_code,
)
from swabline.sampling.enums import TubeKind, TubeStatus
from swabline.sampling.models import Tube, TubeLabel
from swabline.shipping.enums import (
    ALLOWED_TRANSITIONS,
    DiscrepancyKind,
    RejectionReason,
    ShipmentStatus,
)
from swabline.shipping.messages import Reason, ShippingError, say
from swabline.shipping.models import (
    ReceiptDiscrepancy,
    ReceiptScan,
    Shipment,
    ShipmentTube,
    TubeRejection,
)

MAX_CODES = 5000


class InvalidTransition(Exception):
    """A shipment status change that the allowed-transitions table forbids."""

    def __init__(self, shipment: Shipment, to: str) -> None:
        super().__init__(f"shipment {shipment.pk}: {shipment.status} → {to} is not allowed")
        self.current = shipment.status
        self.to = to


# --- The state machine ---------------------------------------------------------------


def transition(shipment: Shipment, to: str, *, by: Any, **changes: Any) -> Shipment:
    """Move `shipment` to status `to` along `ALLOWED_TRANSITIONS`, with `changes`
    (the hand-over or receipt fields) written in the same UPDATE, and return it.

    Compare-and-set on the status the caller saw, so a concurrent change makes this
    raise `InvalidTransition` instead of overwriting it; nothing changes then. Side
    effect: one audit event `shipment.<to>`. The caller checks the permission and
    moves the tubes (each service below)."""
    current = shipment.status
    if to not in ALLOWED_TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(shipment, to)
    with transaction.atomic():
        updated = Shipment.objects.filter(pk=shipment.pk, status=current).update(
            status=to, **changes
        )
        if not updated:
            raise InvalidTransition(shipment, to)
        audit.record(
            by=by,
            action=f"shipment.{to}",
            subject=shipment,
            province_code=shipment.province_code,
            **{"from": current, "to": to},
        )
    shipment.status = to
    for name, value in changes.items():
        setattr(shipment, name, value)
    return shipment


# --- Packing at the site ---------------------------------------------------------------


def create_shipment(
    *, by: Any, site: Site, lab: Lab, client_id: uuid.UUID | None = None, note: str = ""
) -> Shipment:
    """A new shipment (packing) of `site`'s campaign to `lab`.

    Idempotent on `client_id`: the same id again returns the shipment it made (a
    double-submitted form, a retried API call). Raises `PermissionDenied` unless `by`
    manages shipments at `site`. Side effect: audit `shipment.created`."""
    _require(by, Permission.MANAGE_SHIPMENTS, site)
    if client_id is not None:
        existing = Shipment.objects.filter(client_id=client_id).first()
        if existing is not None:
            if existing.site_id != site.pk or existing.lab_id != lab.pk:
                raise ValidationError(_("This request id was already used for another shipment."))
            return existing
    try:
        with transaction.atomic():
            shipment = Shipment.objects.create(
                campaign_id=site.campaign_id,
                site=site,
                lab=lab,
                client_id=client_id,
                created_by=by,
                note=note[:500],
            )
            audit.record(
                by=by,
                action="shipment.created",
                subject=shipment,
                province_code=shipment.province_code,
                lab=lab.code,
            )
    except IntegrityError:
        # The same client id, created concurrently: answer what that request made.
        if client_id is None:
            raise
        return Shipment.objects.get(client_id=client_id)
    return shipment


def clean_code(text: str) -> str:
    """A scanned or typed tube code, normalised; `ShippingError(mistyped)` when it has
    the shape of one of our labels but the check digit does not match."""
    code = normalize_tube_code(text)
    if not code:
        raise ShippingError(Reason.UNKNOWN, code="—")
    if looks_generated(code) and not is_valid_damm(code):
        raise ShippingError(Reason.MISTYPED, code=code)
    return code


def unknown(code: str) -> ShippingError:
    """Why no tube has `code`: a digit dropped or added (our labels have 12 digits and
    supplier labels are found by their own code), or simply not a label we know."""
    if code.isdigit() and len(code) != CODE_LENGTH:
        return ShippingError(Reason.WRONG_LENGTH, code=code, digits=len(code))
    return ShippingError(Reason.UNKNOWN, code=code)


@dataclass
class Added:
    """What scanning one tube into a shipment did."""

    tube: Tube
    added: bool
    message: str


def add_tube(*, by: Any, shipment: Shipment, code: str) -> Added:
    """Put the tube labelled `code` into the packing `shipment`.

    The tube must be closed, of the shipment's site and campaign, and on no other live
    shipment; otherwise `ShippingError` says why (reason codes in `messages.Reason`).
    Scanning a tube that is already in this shipment changes nothing (`added` False,
    with a notice). Side effect: one `ShipmentTube` row, audit `shipment.tube_added`."""
    _require(by, Permission.MANAGE_SHIPMENTS, shipment)
    clean = clean_code(code)
    with transaction.atomic():
        locked = _lock(shipment)
        if locked.status != ShipmentStatus.PACKING:
            raise ShippingError(Reason.NOT_PACKING)
        tube = Tube.objects.select_related("site", "campaign").filter(code=clean).first()
        if tube is None:
            raise unknown(clean)
        live = ShipmentTube.objects.filter(tube=tube, active=True).first()
        if live is not None and live.shipment_id == shipment.pk:
            return Added(tube, False, say(Reason.ALREADY_ADDED, code=clean))
        _check_packable(tube, shipment, on_other_shipment=live is not None)
        try:
            with transaction.atomic():
                ShipmentTube.objects.create(shipment=shipment, tube=tube, added_by=by)
        except IntegrityError as exc:  # packed elsewhere at this very moment
            raise ShippingError(Reason.ON_OTHER_SHIPMENT, code=clean) from exc
        audit.record(
            by=by,
            action="shipment.tube_added",
            subject=shipment,
            province_code=shipment.province_code,
            tube=tube.code,
        )
    return Added(tube, True, _("Tube %(code)s added.") % {"code": clean})


def add_tubes(*, by: Any, shipment: Shipment, codes: Sequence[str]) -> tuple[int, int]:
    """A batch of tubes into the packing `shipment`, all or nothing: every code is
    checked first and a `ValidationError` lists every refused code with its reason
    (nothing is added then). Codes already in this shipment are left as they are.
    Returns (added, already there). Set-based: a fixed number of queries whatever
    the number of codes. Side effects: `ShipmentTube` rows, one audit event."""
    _require(by, Permission.MANAGE_SHIPMENTS, shipment)
    if len(codes) > MAX_CODES:
        raise ValidationError(_("At most %(n)d tubes at a time.") % {"n": MAX_CODES})
    errors: list[ValidationError] = []
    cleaned: list[str] = []
    for text in codes:
        try:
            cleaned.append(clean_code(text))
        except ShippingError as exc:
            errors.append(exc)
    wanted = list(dict.fromkeys(cleaned))
    with transaction.atomic():
        locked = _lock(shipment)
        if locked.status != ShipmentStatus.PACKING:
            raise ShippingError(Reason.NOT_PACKING)
        tubes = {
            t.code: t
            for t in Tube.objects.select_related("site", "campaign").filter(code__in=wanted)
        }
        live = dict(
            ShipmentTube.objects.filter(tube__code__in=wanted, active=True).values_list(
                "tube__code", "shipment_id"
            )
        )
        new: list[Tube] = []
        for code in wanted:
            tube = tubes.get(code)
            if tube is None:
                errors.append(unknown(code))
                continue
            if live.get(code) == shipment.pk:
                continue
            try:
                _check_packable(tube, shipment, on_other_shipment=code in live)
            except ShippingError as exc:
                errors.append(exc)
            else:
                new.append(tube)
        if errors:
            raise ValidationError(errors)
        ShipmentTube.objects.bulk_create(
            [
                ShipmentTube(
                    shipment=shipment,
                    tube=t,
                    added_by=by,
                    province_code=shipment.province_code,
                )
                for t in new
            ]
        )
        audit.record(
            by=by,
            action="shipment.tubes_added",
            subject=shipment,
            province_code=shipment.province_code,
            count=len(new),
        )
    return len(new), len(wanted) - len(new)


def _check_packable(tube: Tube, shipment: Shipment, *, on_other_shipment: bool) -> None:
    code = tube.code
    if tube.status == TubeStatus.OPEN:
        raise ShippingError(Reason.OPEN, code=code)
    if tube.status == TubeStatus.VOID:
        raise ShippingError(Reason.VOID, code=code)
    if tube.campaign_id != shipment.campaign_id:
        raise ShippingError(Reason.OTHER_CAMPAIGN, code=code, campaign=tube.campaign.name)
    if tube.site_id != shipment.site_id:
        raise ShippingError(Reason.OTHER_SITE, code=code, site=tube.site.name)
    if on_other_shipment:
        raise ShippingError(Reason.ON_OTHER_SHIPMENT, code=code)
    if tube.status != TubeStatus.CLOSED:
        raise ShippingError(Reason.ALREADY_SHIPPED, code=code, status=TubeStatus(tube.status).label)


def remove_tube(*, by: Any, shipment: Shipment, code: str) -> None:
    """Take the tube labelled `code` out of the packing `shipment` (its item becomes
    inactive, kept for the trail). Side effect: audit `shipment.tube_removed`."""
    _require(by, Permission.MANAGE_SHIPMENTS, shipment)
    clean = clean_code(code)
    with transaction.atomic():
        locked = _lock(shipment)
        if locked.status != ShipmentStatus.PACKING:
            raise ShippingError(Reason.NOT_PACKING)
        if not ShipmentTube.objects.filter(shipment=shipment, tube__code=clean, active=True).update(
            active=False
        ):
            raise ShippingError(Reason.NOT_ON_SHIPMENT, code=clean)
        audit.record(
            by=by,
            action="shipment.tube_removed",
            subject=shipment,
            province_code=shipment.province_code,
            tube=clean,
        )


def hand_over(*, by: Any, shipment: Shipment, courier_name: str = "") -> Shipment:
    """The courier takes the box: `packing → in transit`, with the time, who and the
    courier's name, and every tube on it `closed → shipped` in one UPDATE.

    Handing over a shipment that is already in transit changes nothing (a retried
    request). Raises `ShippingError` for an empty shipment or a cancelled one."""
    _require(by, Permission.MANAGE_SHIPMENTS, shipment)
    with transaction.atomic():
        locked = _lock(shipment)
        if locked.status == ShipmentStatus.IN_TRANSIT:
            return locked
        if locked.status != ShipmentStatus.PACKING:
            raise ShippingError(Reason.NOT_PACKING)
        items = ShipmentTube.objects.filter(shipment=shipment, active=True)
        count = items.count()
        if not count:
            raise ShippingError(Reason.EMPTY)
        moved = Tube.objects.filter(
            pk__in=items.values("tube_id"), status=TubeStatus.CLOSED
        ).update(status=TubeStatus.SHIPPED)
        if moved != count:  # a tube changed under us: refuse rather than ship half
            raise ShippingError(Reason.NOT_PACKING)
        transition(
            locked,
            ShipmentStatus.IN_TRANSIT,
            by=by,
            handed_over_at=timezone.now(),
            handed_over_by=by,
            courier_name=courier_name.strip()[:200],
        )
        audit.record(
            by=by,
            action="shipment.tubes_shipped",
            subject=shipment,
            province_code=shipment.province_code,
            count=count,
        )
    return locked


def cancel(*, by: Any, shipment: Shipment) -> Shipment:
    """Cancel a shipment that has not been handed over: `packing → cancelled`; its
    tubes leave it (items inactive) and can be packed again."""
    _require(by, Permission.MANAGE_SHIPMENTS, shipment)
    with transaction.atomic():
        locked = _lock(shipment)
        if locked.status != ShipmentStatus.PACKING:
            raise ShippingError(Reason.NOT_PACKING)
        ShipmentTube.objects.filter(shipment=shipment, active=True).update(active=False)
        transition(locked, ShipmentStatus.CANCELLED, by=by, cancelled_at=timezone.now())
    return locked


# --- Receipt at the lab -------------------------------------------------------------------


@dataclass
class Scanned:
    """What one scan on the receipt screen found."""

    code: str
    kind: str  # "found", or a DiscrepancyKind value
    message: str
    duplicate: bool = False


def scan_at_receipt(*, by: Any, shipment: Shipment, code: str) -> Scanned:
    """Record that the lab took the tube labelled `code` out of the in-transit
    `shipment`'s box; answers what it is (found, unexpected, other campaign, not closed,
    unknown label). A second scan of the same code changes nothing. Raises
    `ShippingError(mistyped)` for a code whose check digit is wrong (nothing stored)."""
    _require(by, Permission.RECEIVE_TUBES, shipment)
    clean = clean_code(code)
    with transaction.atomic():
        locked = _lock(shipment)
        if locked.status != ShipmentStatus.IN_TRANSIT:
            raise ShippingError(Reason.NOT_IN_TRANSIT)
        tube = Tube.objects.select_related("campaign").filter(code=clean).first()
        if tube is None and unknown(clean).reason == Reason.WRONG_LENGTH:
            raise unknown(clean)  # a typing slip, not a label found in the box
        _, created = ReceiptScan.objects.get_or_create(
            shipment=shipment, code=clean, defaults={"tube": tube, "scanned_by": by}
        )
        if created and tube is not None:
            ShipmentTube.objects.filter(
                shipment=shipment, tube=tube, active=True, scanned_at__isnull=True
            ).update(scanned_at=timezone.now())
    kind = classify(shipment, clean, tube)
    return Scanned(clean, kind, describe(kind, clean), duplicate=not created)


def classify(shipment: Shipment, code: str, tube: Tube | None) -> str:
    """`found`, or the discrepancy kind of a scanned code (one query at most)."""
    if tube is None:
        if issued_label(shipment, code) is not None:
            return DiscrepancyKind.NAMES_MISSING
        return DiscrepancyKind.UNKNOWN_LABEL
    if ShipmentTube.objects.filter(shipment=shipment, tube=tube, active=True).exists():
        return "found"
    return _kind_off_manifest(shipment, tube.status, tube.campaign_id)


def _kind_off_manifest(shipment: Shipment, status: str, campaign_id: int) -> str:
    if status in (TubeStatus.OPEN, TubeStatus.VOID):
        return DiscrepancyKind.NOT_CLOSED
    if campaign_id != shipment.campaign_id:
        return DiscrepancyKind.OTHER_CAMPAIGN
    return DiscrepancyKind.UNEXPECTED


def describe(kind: str, code: str) -> str:
    texts = {
        "found": _("Tube %(code)s: on the manifest."),
        DiscrepancyKind.UNKNOWN_LABEL: _("Tube %(code)s: no tube has this label."),
        DiscrepancyKind.NOT_CLOSED: _("Tube %(code)s: this tube was never closed at the site."),
        DiscrepancyKind.OTHER_CAMPAIGN: _("Tube %(code)s: from another campaign."),
        DiscrepancyKind.UNEXPECTED: _("Tube %(code)s: not on this shipment's manifest."),
        DiscrepancyKind.NAMES_MISSING: _(
            "Tube %(code)s: a label issued to a site, with no names entered yet. "
            "It will be received as names missing: test it; its result waits for the names."
        ),
    }
    return texts[kind] % {"code": code}


def unscan(*, by: Any, shipment: Shipment, code: str) -> None:
    """Undo one scan on the receipt screen (a tube scanned by mistake, put back)."""
    _require(by, Permission.RECEIVE_TUBES, shipment)
    clean = normalize_tube_code(code)
    with transaction.atomic():
        locked = _lock(shipment)
        if locked.status != ShipmentStatus.IN_TRANSIT:
            raise ShippingError(Reason.NOT_IN_TRANSIT)
        ReceiptScan.objects.filter(shipment=shipment, code=clean).delete()
        ShipmentTube.objects.filter(
            shipment=shipment, tube__code=clean, active=True, tube__status=TubeStatus.SHIPPED
        ).update(scanned_at=None)


@dataclass
class Receipt:
    """The outcome of receiving a shipment: how many tubes came in, and every
    discrepancy (kind → codes, sorted)."""

    shipment: Shipment
    received: int
    discrepancies: dict[str, list[str]] = field(default_factory=dict)
    already: bool = False


def receive(*, by: Any, shipment: Shipment, codes: Iterable[str] = ()) -> Receipt:
    """Receive the in-transit `shipment` at its lab: `in transit → received`.

    `codes` (an API client's scanned list) are added to the scans made on the
    receipt screen; a code with a wrong check digit refuses the whole receipt
    (`ValidationError` listing them). Then, all in one transaction and set-based: the
    discrepancies are recorded (see the module docstring), found tubes move
    `shipped → received` in one UPDATE, the shipment gets its receipt time and who.
    A shipment already received returns its first receipt (`already` True) and
    changes nothing."""
    _require(by, Permission.RECEIVE_TUBES, shipment)
    cleaned, errors = [], []
    for text in codes:
        try:
            cleaned.append(clean_code(text))
        except ShippingError as exc:
            errors.append(exc)
    if len(cleaned) > MAX_CODES:
        raise ValidationError(_("At most %(n)d tubes at a time.") % {"n": MAX_CODES})
    with transaction.atomic():
        locked = _lock(shipment)
        if locked.status == ShipmentStatus.RECEIVED:
            return Receipt(locked, _received_count(locked), discrepancies_of(locked), True)
        if locked.status != ShipmentStatus.IN_TRANSIT:
            raise ShippingError(Reason.NOT_IN_TRANSIT)
        if errors:
            raise ValidationError(errors)
        now = timezone.now()
        if cleaned:
            _record_scans(by, locked, list(dict.fromkeys(cleaned)), now)
        _accept_names_missing(by, locked, now)
        _record_discrepancies(by, locked, now)
        found = ShipmentTube.objects.filter(shipment=locked, active=True, scanned_at__isnull=False)
        received = Tube.objects.filter(
            pk__in=found.values("tube_id"), status=TubeStatus.SHIPPED
        ).update(status=TubeStatus.RECEIVED)
        found.filter(tube__status=TubeStatus.RECEIVED).update(received_at=now)
        transition(locked, ShipmentStatus.RECEIVED, by=by, received_at=now, received_by=by)
        result = Receipt(locked, received, discrepancies_of(locked))
        audit.record(
            by=by,
            action="shipment.tubes_received",
            subject=locked,
            province_code=locked.province_code,
            received=received,
            **{kind: len(found_codes) for kind, found_codes in result.discrepancies.items()},
        )
    return result


def _record_scans(by: Any, shipment: Shipment, codes: list[str], now: Any) -> None:
    tubes = dict(Tube.objects.filter(code__in=codes).values_list("code", "pk"))
    ReceiptScan.objects.bulk_create(
        [
            ReceiptScan(
                shipment=shipment,
                code=c,
                tube_id=tubes.get(c),
                scanned_by=by,
                province_code=shipment.province_code,
            )
            for c in codes
        ],
        ignore_conflicts=True,
    )
    ShipmentTube.objects.filter(
        shipment=shipment, active=True, scanned_at__isnull=True, tube_id__in=list(tubes.values())
    ).update(scanned_at=now)


def issued_label(shipment: Shipment, code: str) -> TubeLabel | None:
    """The unused label `code` issued to a site of `shipment`'s campaign, if any."""
    return (
        TubeLabel.objects.select_related("site")
        .filter(
            code=code, site__isnull=False, used_at__isnull=True, campaign_id=shipment.campaign_id
        )
        .first()
    )


def _accept_names_missing(
    by: Any, shipment: Shipment, now: Any, only: str | None = None
) -> list[Tube]:
    """Tubes for the scanned codes that no tube has but that are unused labels issued
    to a site of the shipment's campaign: made `shipped`, names missing, on this
    shipment and found in the box (the receipt then moves them to `received` with the
    others). Set-based: a fixed number of queries. Side effects: the labels marked
    used, a `names_missing` discrepancy each, one audit event."""
    scans = ReceiptScan.objects.filter(shipment=shipment, tube__isnull=True)
    if only is not None:
        scans = scans.filter(code=only)
    codes = list(scans.values_list("code", flat=True))
    if not codes:
        return []
    labels = list(
        TubeLabel.objects.select_related("site", "campaign").filter(
            code__in=codes,
            site__isnull=False,
            used_at__isnull=True,
            campaign_id=shipment.campaign_id,
        )
    )
    if not labels:
        return []
    tubes = []
    for label in labels:
        assert label.site is not None and label.site_id is not None  # filtered above
        limit = label.campaign.pool_size_limit
        tubes.append(
            Tube(
                code=label.code,
                campaign_id=label.campaign_id,
                site_id=label.site_id,
                province_code=label.site.province_code,
                kind=TubeKind.POOL if limit > 1 else TubeKind.INDIVIDUAL,
                pool_limit=limit,
                status=TubeStatus.SHIPPED,
                opened_by=by,
                opened_at=now,
                client_opened_at=now,
                names_missing_since=now,
            )
        )
    Tube.objects.bulk_create(tubes)
    made = list(Tube.objects.filter(code__in=[t.code for t in tubes]))
    TubeLabel.objects.filter(pk__in=[label.pk for label in labels]).update(used_at=now)
    ids = {t.code: t.pk for t in made}
    ReceiptScan.objects.filter(shipment=shipment, code__in=list(ids)).update(
        tube_id=Subquery(Tube.objects.filter(code=OuterRef("code")).values("pk")[:1])
    )
    ShipmentTube.objects.bulk_create(
        [
            ShipmentTube(
                shipment=shipment,
                tube=t,
                added_by=by,
                scanned_at=now,
                province_code=shipment.province_code,
            )
            for t in made
        ]
    )
    ReceiptDiscrepancy.objects.bulk_create(
        [
            ReceiptDiscrepancy(
                shipment=shipment,
                kind=DiscrepancyKind.NAMES_MISSING,
                tube=t,
                tube_code=t.code,
                recorded_by=by,
            )
            for t in made
        ],
        ignore_conflicts=True,
    )
    audit.record(
        by=by,
        action="shipment.names_missing",
        subject=shipment,
        province_code=shipment.province_code,
        tubes=sorted(ids),
    )
    return made


def _record_discrepancies(by: Any, shipment: Shipment, now: Any) -> None:
    rows: list[ReceiptDiscrepancy] = []
    missing = ShipmentTube.objects.filter(
        shipment=shipment, active=True, scanned_at__isnull=True
    ).values_list("tube_id", "tube__code")
    rows += [
        ReceiptDiscrepancy(
            shipment=shipment, kind=DiscrepancyKind.MISSING, tube_id=t, tube_code=c, recorded_by=by
        )
        for t, c in missing
    ]
    on_manifest = ShipmentTube.objects.filter(shipment=shipment, active=True).values("tube_id")
    extra = (
        ReceiptScan.objects.filter(shipment=shipment)
        .filter(Q(tube__isnull=True) | ~Q(tube_id__in=on_manifest))
        .values_list("code", "tube_id", "tube__status", "tube__campaign_id")
    )
    elsewhere: list[int] = []
    for code, tube_id, status, campaign_id in extra:
        kind = (
            DiscrepancyKind.UNKNOWN_LABEL
            if tube_id is None
            else _kind_off_manifest(shipment, status, campaign_id)
        )
        rows.append(
            ReceiptDiscrepancy(
                shipment=shipment, kind=kind, tube_id=tube_id, tube_code=code, recorded_by=by
            )
        )
        if kind in (DiscrepancyKind.UNEXPECTED, DiscrepancyKind.OTHER_CAMPAIGN):
            elsewhere.append(tube_id)
    ReceiptDiscrepancy.objects.bulk_create(rows, ignore_conflicts=True)
    if elsewhere:
        # Arrived early in the wrong box: found for its own shipment's receipt.
        ShipmentTube.objects.filter(
            tube_id__in=elsewhere,
            active=True,
            scanned_at__isnull=True,
            shipment__lab_id=shipment.lab_id,
            shipment__status=ShipmentStatus.IN_TRANSIT,
        ).exclude(shipment=shipment).update(scanned_at=now)


def discrepancies_of(shipment: Shipment) -> dict[str, list[str]]:
    """Recorded discrepancies of `shipment`, kind → sorted codes (one query)."""
    result: dict[str, list[str]] = {}
    rows = ReceiptDiscrepancy.objects.filter(shipment=shipment, resolved_at__isnull=True)
    for kind, code in rows.order_by("kind", "tube_code").values_list("kind", "tube_code"):
        result.setdefault(kind, []).append(code)
    return result


def _received_count(shipment: Shipment) -> int:
    return ShipmentTube.objects.filter(
        shipment=shipment, active=True, received_at__isnull=False
    ).count()


def receive_late_tube(*, by: Any, shipment: Shipment, code: str) -> Tube:
    """A tube recorded missing at receipt turned up: `shipped → received` now, and its
    `missing` discrepancy is marked resolved (kept for the record). A paper tube (a
    label issued to a site, no tube yet) that turns up after the receipt is received
    now as names missing, as at the receipt."""
    _require(by, Permission.RECEIVE_TUBES, shipment)
    clean = clean_code(code)
    with transaction.atomic():
        locked = _lock(shipment)
        if locked.status != ShipmentStatus.RECEIVED:
            raise ShippingError(Reason.NOT_MISSING, code=clean)
        item = (
            ShipmentTube.objects.select_related("tube")
            .filter(shipment=shipment, tube__code=clean, active=True)
            .first()
        )
        if (
            item is None
            and not Tube.objects.filter(code=clean).exists()
            and issued_label(locked, clean) is not None
        ):
            # A paper tube found after the receipt: received now, names missing.
            now = timezone.now()
            ReceiptScan.objects.get_or_create(
                shipment=locked, code=clean, defaults={"scanned_by": by}
            )
            for made in _accept_names_missing(by, locked, now, only=clean):
                Tube.objects.filter(pk=made.pk, status=TubeStatus.SHIPPED).update(
                    status=TubeStatus.RECEIVED
                )
                ShipmentTube.objects.filter(shipment=locked, tube=made).update(received_at=now)
                made.status = TubeStatus.RECEIVED
                return made
        if item is None or item.tube.status != TubeStatus.SHIPPED:
            raise ShippingError(Reason.NOT_MISSING, code=clean)
        now = timezone.now()
        if not Tube.objects.filter(pk=item.tube_id, status=TubeStatus.SHIPPED).update(
            status=TubeStatus.RECEIVED
        ):
            raise ShippingError(Reason.NOT_MISSING, code=clean)
        ShipmentTube.objects.filter(pk=item.pk).update(
            scanned_at=item.scanned_at or now, received_at=now
        )
        ReceiptDiscrepancy.objects.filter(
            shipment=shipment, kind=DiscrepancyKind.MISSING, tube_code=clean
        ).update(resolved_at=now, note=_("Arrived late."))
        audit.record(
            by=by,
            action="shipment.late_tube_received",
            subject=shipment,
            province_code=shipment.province_code,
            tube=clean,
        )
    item.tube.status = TubeStatus.RECEIVED
    return item.tube


# --- Rejection ------------------------------------------------------------------------------


def reject_tube(*, by: Any, lab: Lab, code: str, reason: str, note: str = "") -> TubeRejection:
    """The lab refuses the tube labelled `code` (leaked, unlabeled, too old,
    insufficient, or other with a note): `shipped|received → rejected`, a
    `TubeRejection`, and its people become *recollect*
    (`swabline.results.services.record_rejection`), all in one transaction.

    The tube must have been sent to `lab` (on a shipment to it that is in transit or
    received). Raises `PermissionDenied` unless `by` receives tubes at `lab`,
    `ShippingError` otherwise."""
    _require(by, Permission.RECEIVE_TUBES, lab)
    clean = clean_code(code)
    if reason not in RejectionReason.values:
        raise ValidationError(_("Choose a reason."))
    if reason == RejectionReason.OTHER and not note.strip():
        raise ShippingError(Reason.NOTE_NEEDED)
    from swabline.results import services as results  # results sits above shipping

    with transaction.atomic():
        tube = Tube.objects.select_for_update().filter(code=clean).first()
        sent_here = (
            tube is not None
            and ShipmentTube.objects.filter(
                tube=tube,
                active=True,
                shipment__lab=lab,
                shipment__status__in=[ShipmentStatus.IN_TRANSIT, ShipmentStatus.RECEIVED],
            ).exists()
        )
        if tube is None or not sent_here:
            raise ShippingError(Reason.NOT_AT_LAB, code=clean)
        if tube.status == TubeStatus.REJECTED:
            raise ShippingError(Reason.ALREADY_REJECTED, code=clean)
        if tube.status not in (TubeStatus.SHIPPED, TubeStatus.RECEIVED):
            raise ShippingError(
                Reason.NOT_RECEIVABLE, code=clean, status=TubeStatus(tube.status).label
            )
        from swabline.sampling.services import transition as tube_transition

        tube_transition(tube, TubeStatus.REJECTED, by=by, reason=reason)
        rejection = TubeRejection.objects.create(
            tube=tube, lab=lab, reason=reason, note=note.strip()[:500], rejected_by=by
        )
        results.record_rejection(
            by=by, tubes=[tube], reason_label=str(RejectionReason(reason).label)
        )
    return rejection


# --- Helpers ----------------------------------------------------------------------------------


def _require(by: Any, perm: Permission, obj: Any) -> None:
    if not has_permission(by, perm, obj):
        raise PermissionDenied(_("Your role does not allow this here."))


def _lock(shipment: Shipment) -> Shipment:
    """The shipment's row, locked for the rest of the transaction (PostgreSQL; SQLite
    serialises writers anyway)."""
    return Shipment.objects.select_for_update().get(pk=shipment.pk)
