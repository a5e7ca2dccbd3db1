"""`/api/v1/shipments`: shipments for site apps and lab systems (token auth, scoped).

Site side (MANAGE_SHIPMENTS at the site): create a shipment (idempotent on
`client_id`), add tubes in batches (all or nothing; a tube already on it is left as
it is), hand over (a retry changes nothing). Lab side (RECEIVE_TUBES at the
destination lab): list incoming shipments, read a manifest, receive with the list of
scanned codes (atomic; a retry answers the first receipt).

Errors: 403 when the role lacks the permission everywhere, 404 for a shipment or
site outside the caller's scope (indistinguishable from a missing one), 409 when the
shipment's status does not allow the action, 422 for refused codes, each with its
reason code and a message in the request's language.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.campaigns.models import Site
from swabline.labs.models import Lab
from swabline.shipping import queries, services
from swabline.shipping.enums import ShipmentStatus
from swabline.shipping.messages import Reason, ShippingError
from swabline.shipping.models import Shipment

router = Router(tags=["shipping"])

M = Permission.MANAGE_SHIPMENTS
R = Permission.RECEIVE_TUBES
CONFLICTS = frozenset({Reason.NOT_PACKING, Reason.NOT_IN_TRANSIT, Reason.EMPTY})
MAX_CODES = services.MAX_CODES


class Detail(Schema):
    detail: str


class CodeError(Schema):
    code: str
    reason: str
    message: str


class Refused(Schema):
    detail: str
    reason: str = ""
    errors: list[CodeError] = []


class ShipmentIn(Schema):
    client_id: uuid.UUID | None = None
    site: uuid.UUID
    lab: uuid.UUID
    note: str = Field("", max_length=500)


class ShipmentOut(Schema):
    id: uuid.UUID
    status: str
    campaign: str
    site: uuid.UUID
    site_name: str
    lab: uuid.UUID
    lab_name: str
    tubes: int
    created_at: dt.datetime
    handed_over_at: dt.datetime | None
    courier_name: str
    received_at: dt.datetime | None


class CodesIn(Schema):
    codes: list[str] = Field(..., max_length=MAX_CODES)


class AddedOut(Schema):
    added: int
    already: int
    tubes: int


class HandOverIn(Schema):
    courier_name: str = Field("", max_length=200)


class PersonOut(Schema):
    name: str
    birth_year: int


class TubeOut(Schema):
    code: str
    kind: str
    status: str
    people_count: int
    people: list[PersonOut]


class ManifestOut(Schema):
    shipment: ShipmentOut
    tubes: list[TubeOut]


class DiscrepancyOut(Schema):
    kind: str
    code: str


class ReceiptOut(Schema):
    shipment: ShipmentOut
    received: int
    already_received: bool
    discrepancies: list[DiscrepancyOut]


def _out(shipment: Shipment) -> ShipmentOut:
    tubes = getattr(shipment, "tube_count", None)
    if tubes is None:
        tubes = shipment.items.filter(active=True).count()
    return ShipmentOut(
        id=shipment.public_id,
        status=shipment.status,
        campaign=shipment.campaign.name,
        site=shipment.site.public_id,
        site_name=shipment.site.name,
        lab=shipment.lab.public_id,
        lab_name=shipment.lab.name,
        tubes=tubes,
        created_at=shipment.created_at,
        handed_over_at=shipment.handed_over_at,
        courier_name=shipment.courier_name,
        received_at=shipment.received_at,
    )


def _shipment(request: HttpRequest, public_id: uuid.UUID, perm: Permission) -> Shipment:
    if not has_permission(request.user, perm):
        raise HttpError(403, _("Your role does not allow this."))
    try:
        return queries.get_shipment(request.user, public_id, perm=perm)
    except Http404 as exc:
        raise HttpError(404, _("Not found.")) from exc


def _refused(exc: ValidationError) -> Status[Refused]:
    """422 with every refused code, or 409 when the shipment's status is the reason."""
    errors = [
        CodeError(
            code=str((e.params or {}).get("code", "")),
            reason=e.code or "invalid",
            message=" ".join(e.messages),
        )
        for e in exc.error_list
    ]
    reasons = {e.reason for e in errors}
    if reasons & CONFLICTS:
        reason = next(iter(reasons & CONFLICTS))
        return Status(409, Refused(detail=errors[0].message, reason=reason))
    return Status(422, Refused(detail=_("Some codes were refused."), errors=errors))


@router.post(
    "",
    response={200: ShipmentOut, 201: ShipmentOut, 403: Detail, 404: Detail, 422: Refused},
    url_name="shipments_create",
    summary="Create a shipment from a site to a lab (idempotent on client_id)",
)
def create(request: HttpRequest, payload: ShipmentIn) -> Status[Any]:
    if not has_permission(request.user, M):
        raise HttpError(403, _("Your role does not allow this."))
    site = Site.objects.select_related("ward", "campaign").filter(public_id=payload.site).first()
    if site is None or not has_permission(request.user, M, site):
        raise HttpError(404, _("Unknown site."))
    lab = Lab.objects.filter(public_id=payload.lab).first()
    if lab is None:
        return Status(422, Refused(detail=_("Unknown lab."), reason="unknown_lab"))
    replay = (
        payload.client_id is not None
        and Shipment.objects.filter(client_id=payload.client_id).exists()
    )
    try:
        shipment = services.create_shipment(
            by=request.user, site=site, lab=lab, client_id=payload.client_id, note=payload.note
        )
    except PermissionDenied as exc:
        raise HttpError(403, _("Your role does not allow this.")) from exc
    except ValidationError as exc:
        return Status(422, Refused(detail=" ".join(exc.messages), reason="client_id_reused"))
    return Status(
        200 if replay else 201, _out(queries.get_shipment(request.user, shipment.public_id))
    )


@router.get(
    "/incoming",
    response={200: list[ShipmentOut], 403: Detail},
    url_name="shipments_incoming",
    summary="Shipments on their way to the caller's labs (oldest hand-over first)",
)
def incoming(request: HttpRequest) -> list[ShipmentOut]:
    if not has_permission(request.user, R):
        raise HttpError(403, _("Your role does not allow this."))
    shipments = queries.lab_shipments(request.user).filter(status=ShipmentStatus.IN_TRANSIT)
    return [_out(s) for s in shipments.order_by("handed_over_at")[:500]]


@router.get(
    "/{shipment_id}",
    response={200: ShipmentOut, 403: Detail, 404: Detail},
    url_name="shipments_get",
    summary="One shipment (seen from its site or its lab)",
)
def get(request: HttpRequest, shipment_id: uuid.UUID) -> ShipmentOut:
    if not (has_permission(request.user, M) or has_permission(request.user, R)):
        raise HttpError(403, _("Your role does not allow this."))
    try:
        return _out(queries.get_shipment(request.user, shipment_id))
    except Http404 as exc:
        raise HttpError(404, _("Not found.")) from exc


@router.post(
    "/{shipment_id}/tubes",
    response={200: AddedOut, 403: Detail, 404: Detail, 409: Refused, 422: Refused},
    url_name="shipments_add_tubes",
    summary="Add tubes by code, all or nothing (tubes already on it are left as they are)",
)
def add_tubes(request: HttpRequest, shipment_id: uuid.UUID, payload: CodesIn) -> Status[Any]:
    shipment = _shipment(request, shipment_id, M)
    try:
        added, already = services.add_tubes(by=request.user, shipment=shipment, codes=payload.codes)
    except ValidationError as exc:
        return _refused(exc)
    tubes = shipment.items.filter(active=True).count()
    return Status(200, AddedOut(added=added, already=already, tubes=tubes))


@router.post(
    "/{shipment_id}/hand-over",
    response={200: ShipmentOut, 403: Detail, 404: Detail, 409: Refused},
    url_name="shipments_hand_over",
    summary="Hand the shipment to the courier (a retry changes nothing)",
)
def hand_over(request: HttpRequest, shipment_id: uuid.UUID, payload: HandOverIn) -> Status[Any]:
    shipment = _shipment(request, shipment_id, M)
    try:
        services.hand_over(by=request.user, shipment=shipment, courier_name=payload.courier_name)
    except ShippingError as exc:
        return _refused(exc)
    return Status(200, _out(queries.get_shipment(request.user, shipment_id)))


@router.get(
    "/{shipment_id}/manifest",
    response={200: ManifestOut, 403: Detail, 404: Detail},
    url_name="shipments_manifest",
    summary="The manifest: tubes with their people (name, year of birth)",
)
def manifest(request: HttpRequest, shipment_id: uuid.UUID) -> ManifestOut:
    if not (has_permission(request.user, M) or has_permission(request.user, R)):
        raise HttpError(403, _("Your role does not allow this."))
    try:
        shipment = queries.get_shipment(request.user, shipment_id)
    except Http404 as exc:
        raise HttpError(404, _("Not found.")) from exc
    return ManifestOut(
        shipment=_out(shipment),
        tubes=[
            TubeOut(
                code=t.code,
                kind=t.kind,
                status=t.status,
                people_count=t.member_count,
                people=[PersonOut(name=n, birth_year=y) for n, y in t.people],
            )
            for t in queries.manifest(shipment)
        ],
    )


@router.post(
    "/{shipment_id}/receive",
    response={200: ReceiptOut, 403: Detail, 404: Detail, 409: Refused, 422: Refused},
    url_name="shipments_receive",
    summary="Receive with the scanned codes; answers the discrepancies (atomic, idempotent)",
)
def receive(request: HttpRequest, shipment_id: uuid.UUID, payload: CodesIn) -> Status[Any]:
    shipment = _shipment(request, shipment_id, R)
    try:
        receipt = services.receive(by=request.user, shipment=shipment, codes=payload.codes)
    except ValidationError as exc:
        return _refused(exc)
    return Status(
        200,
        ReceiptOut(
            shipment=_out(queries.get_shipment(request.user, shipment_id)),
            received=receipt.received,
            already_received=receipt.already,
            discrepancies=[
                DiscrepancyOut(kind=kind, code=code)
                for kind, codes in receipt.discrepancies.items()
                for code in codes
            ],
        ),
    )
