"""Shipment pages: couriers pack and hand over on a phone; the lab receives at a
bench with a USB barcode scanner (it types the code, then Enter, into an input that
keeps the focus). Views are thin: the rules live in `services`.

Scans and buttons post ordinary forms; with htmx the answer is the panel that
changed (no page reload while scanning), without it a redirect to the page.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.shipping import documents, queries, services
from swabline.shipping.enums import RejectionReason, ShipmentStatus
from swabline.shipping.models import Shipment

M = Permission.MANAGE_SHIPMENTS
R = Permission.RECEIVE_TUBES


def _require(request: HttpRequest, *perms: Permission) -> None:
    if not any(has_permission(request.user, p) for p in perms):
        raise PermissionDenied


def _htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _error_text(exc: ValidationError) -> str:
    return " ".join(str(m) for m in exc.messages)


# --- Site side -------------------------------------------------------------------------------


@login_required
@require_GET
def shipment_list(request: HttpRequest) -> HttpResponse:
    """My sites' shipments by status; lab staff are sent to their incoming list."""
    if not has_permission(request.user, M):
        if has_permission(request.user, R):
            return redirect("shipping:receipt_list")
        raise PermissionDenied
    shipments = list(
        queries.site_shipments(request.user).exclude(status=ShipmentStatus.CANCELLED)[:200]
    )
    groups = [
        (status, label, [s for s in shipments if s.status == status])
        for status, label in ShipmentStatus.choices
        if status != ShipmentStatus.CANCELLED
    ]
    return render(request, "shipping/list.html", {"groups": groups})


@login_required
@require_http_methods(["GET", "POST"])
def shipment_new(request: HttpRequest) -> HttpResponse:
    """Choose the site and the lab; the hidden request id makes a double submit harmless."""
    _require(request, M)
    sites = list(queries.shipping_sites(request.user))
    from swabline.labs.models import Lab

    labs = list(Lab.objects.order_by("name"))
    error = ""
    if request.method == "POST":
        site = next((s for s in sites if str(s.public_id) == request.POST.get("site")), None)
        lab = next((lab for lab in labs if str(lab.public_id) == request.POST.get("lab")), None)
        try:
            client_id = uuid.UUID(request.POST.get("client_id", ""))
        except ValueError:
            client_id = None
        if site is None or lab is None:
            error = _("Choose a site and a lab.")
        else:
            try:
                shipment = services.create_shipment(
                    by=request.user, site=site, lab=lab, client_id=client_id,
                    note=request.POST.get("note", ""),
                )  # fmt: skip
            except ValidationError as exc:
                error = _error_text(exc)
            else:
                return redirect("shipping:detail", public_id=shipment.public_id)
    return render(
        request,
        "shipping/new.html",
        {"sites": sites, "labs": labs, "client_id": uuid.uuid4(), "error": error},
    )


@login_required
@require_GET
def shipment_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    """Packing screen while packing (site staff); otherwise the shipment's record."""
    _require(request, M, R)
    shipment = queries.get_shipment(request.user, public_id)
    can_pack = has_permission(request.user, M, shipment)
    can_receive = has_permission(request.user, R, shipment)
    context: dict[str, Any] = {
        "shipment": shipment,
        "short_id": documents.short_id(shipment),
        "can_pack": can_pack and shipment.status == ShipmentStatus.PACKING,
        "can_receive": can_receive and shipment.status == ShipmentStatus.IN_TRANSIT,
        "tubes": queries.manifest(shipment, with_people=False),
        "discrepancies": queries.discrepancies(shipment),
    }
    return render(request, "shipping/detail.html", context)


def _packing(request: HttpRequest, public_id: str) -> Shipment:
    _require(request, M)
    return queries.get_shipment(request.user, public_id, perm=M)


def _packing_answer(
    request: HttpRequest, shipment: Shipment, message: str, level: str
) -> HttpResponse:
    if _htmx(request):
        return render(
            request,
            "shipping/_packing.html",
            {
                "shipment": shipment,
                "tubes": queries.manifest(shipment, with_people=False),
                "message": message,
                "level": level,
                "can_pack": True,
            },
        )
    getattr(messages, level)(request, message)
    return redirect("shipping:detail", public_id=shipment.public_id)


@login_required
@require_POST
def add_tube(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _packing(request, public_id)
    try:
        added = services.add_tube(
            by=request.user, shipment=shipment, code=request.POST.get("code", "")
        )
    except ValidationError as exc:
        return _packing_answer(request, shipment, _error_text(exc), "error")
    return _packing_answer(request, shipment, added.message, "success" if added.added else "info")


@login_required
@require_POST
def remove_tube(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _packing(request, public_id)
    code = request.POST.get("code", "")
    try:
        services.remove_tube(by=request.user, shipment=shipment, code=code)
    except ValidationError as exc:
        return _packing_answer(request, shipment, _error_text(exc), "error")
    return _packing_answer(
        request, shipment, _("Tube %(code)s taken out.") % {"code": code}, "success"
    )


@login_required
@require_POST
def hand_over(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _packing(request, public_id)
    try:
        services.hand_over(
            by=request.user, shipment=shipment, courier_name=request.POST.get("courier_name", "")
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Handed over. The tubes are on their way to the lab."))
    return redirect("shipping:detail", public_id=shipment.public_id)


@login_required
@require_POST
def cancel(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _packing(request, public_id)
    try:
        services.cancel(by=request.user, shipment=shipment)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("shipping:detail", public_id=shipment.public_id)
    messages.success(request, _("Shipment cancelled; its tubes can be packed again."))
    return redirect("shipping:list")


@login_required
@require_GET
def manifest_pdf(request: HttpRequest, public_id: str) -> HttpResponse:
    _require(request, M, R)
    shipment = queries.get_shipment(request.user, public_id)
    response = HttpResponse(documents.manifest_pdf(shipment), content_type="application/pdf")
    name = f"swabline-manifest-{documents.short_id(shipment)}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def manifest_xlsx(request: HttpRequest, public_id: str) -> HttpResponse:
    _require(request, M, R)
    shipment = queries.get_shipment(request.user, public_id)
    response = HttpResponse(
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    name = f"swabline-manifest-{documents.short_id(shipment)}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    documents.manifest_xlsx(shipment, response)
    return response


# --- Lab side ---------------------------------------------------------------------------------


@login_required
@require_GET
def receipt_list(request: HttpRequest) -> HttpResponse:
    """Shipments on their way to my labs, and the ones received lately."""
    _require(request, R)
    shipments = queries.lab_shipments(request.user)
    lab = request.GET.get("lab", "")
    if lab:
        try:
            shipments = shipments.filter(lab__public_id=uuid.UUID(lab))
        except ValueError as exc:
            raise Http404 from exc
    incoming = list(shipments.filter(status=ShipmentStatus.IN_TRANSIT).order_by("handed_over_at"))
    received = list(shipments.filter(status=ShipmentStatus.RECEIVED).order_by("-received_at")[:50])
    open_issues = queries.open_discrepancy_counts([s.pk for s in received])
    for s in received:
        s.open_discrepancies = open_issues.get(s.pk, 0)  # type: ignore[attr-defined]
    return render(
        request, "shipping/receipt_list.html", {"incoming": incoming, "received": received}
    )


def _lab_shipment(request: HttpRequest, public_id: str) -> Shipment:
    _require(request, R)
    return queries.get_shipment(request.user, public_id, perm=R)


def _receipt_context(shipment: Shipment, message: str = "", level: str = "") -> dict[str, Any]:
    return {
        "shipment": shipment,
        "short_id": documents.short_id(shipment),
        "state": queries.receipt_state(shipment),
        "message": message,
        "level": level,
        "reasons": RejectionReason.choices,
    }


@login_required
@require_GET
def receipt(request: HttpRequest, public_id: str) -> HttpResponse:
    """The bench screen: scan every tube out of the box, then receive."""
    shipment = _lab_shipment(request, public_id)
    return render(request, "shipping/receipt.html", _receipt_context(shipment))


def _receipt_answer(
    request: HttpRequest, shipment: Shipment, message: str, level: str
) -> HttpResponse:
    if _htmx(request):
        return render(
            request, "shipping/_receipt_panel.html", _receipt_context(shipment, message, level)
        )
    getattr(messages, level)(request, message)
    return redirect("shipping:receipt", public_id=shipment.public_id)


@login_required
@require_POST
def receipt_scan(request: HttpRequest, public_id: str) -> HttpResponse:
    """One scanned code: noted while the shipment is in transit; on a received
    shipment, a tube that was missing arrives late."""
    shipment = _lab_shipment(request, public_id)
    code = request.POST.get("code", "")
    try:
        if shipment.status == ShipmentStatus.RECEIVED:
            tube = services.receive_late_tube(by=request.user, shipment=shipment, code=code)
            message = _("Tube %(code)s arrived late: received now.") % {"code": tube.code}
            level = "success"
        else:
            scanned = services.scan_at_receipt(by=request.user, shipment=shipment, code=code)
            message = scanned.message
            if scanned.duplicate:
                message = _("Tube %(code)s was already scanned.") % {"code": scanned.code}
            level = "success" if scanned.kind == "found" else "warning"
    except ValidationError as exc:
        message, level = _error_text(exc), "error"
    shipment.refresh_from_db(fields=["status"])
    return _receipt_answer(request, shipment, message, level)


@login_required
@require_POST
def receipt_unscan(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _lab_shipment(request, public_id)
    code = request.POST.get("code", "")
    try:
        services.unscan(by=request.user, shipment=shipment, code=code)
    except ValidationError as exc:
        return _receipt_answer(request, shipment, _error_text(exc), "error")
    return _receipt_answer(
        request, shipment, _("Scan of %(code)s undone.") % {"code": code}, "info"
    )


@login_required
@require_POST
def receive(request: HttpRequest, public_id: str) -> HttpResponse:
    shipment = _lab_shipment(request, public_id)
    try:
        result = services.receive(by=request.user, shipment=shipment)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        missing = len(result.discrepancies.get("missing", []))
        messages.success(
            request,
            _("Received %(n)d tubes; %(m)d missing.") % {"n": result.received, "m": missing},
        )
    return redirect("shipping:receipt", public_id=shipment.public_id)


@login_required
@require_POST
def reject(request: HttpRequest, public_id: str) -> HttpResponse:
    """Reject a tube of this shipment with a reason."""
    shipment = _lab_shipment(request, public_id)
    code = request.POST.get("code", "")
    try:
        rejection = services.reject_tube(
            by=request.user,
            lab=shipment.lab,
            code=code,
            reason=request.POST.get("reason", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        return _receipt_answer(request, shipment, _error_text(exc), "error")
    return _receipt_answer(
        request,
        shipment,
        _("Tube %(code)s rejected (%(reason)s): its people must be sampled again.")
        % {"code": rejection.tube.code, "reason": rejection.get_reason_display()},
        "warning",
    )


def receipt_url(shipment: Shipment) -> str:
    return reverse("shipping:receipt", kwargs={"public_id": shipment.public_id})
