"""Shipments (lô vận chuyển mẫu): closed tubes handed from a site to a lab with a
manifest, and what the lab found when it opened the box.

A tube is on at most one live (not cancelled) shipment at a time, and leaves it
only while the shipment is still being packed (partial unique index on
`ShipmentTube`). The tube's own status follows the hand-over (`closed → shipped`)
and the receipt (`shipped → received | rejected`) through
`swabline.sampling.services.transition` or the set-based equivalent.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope
from swabline.shipping.enums import DiscrepancyKind, RejectionReason, ShipmentStatus


class Shipment(CarriesProvince):
    """One box of tubes from one site of a campaign to one lab."""

    province_source = "site"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="shipments"
    )
    site = models.ForeignKey(
        "campaigns.Site", on_delete=models.PROTECT, related_name="shipments", verbose_name=_("site")
    )
    lab = models.ForeignKey(
        "labs.Lab", on_delete=models.PROTECT, related_name="shipments", verbose_name=_("lab")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ShipmentStatus.choices, default=ShipmentStatus.PACKING
    )
    # Idempotency for the API and double-submitted forms.
    client_id = models.UUIDField(unique=True, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    handed_over_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    handed_over_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    courier_name = models.CharField(_("carried by"), max_length=200, blank=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lab", "status"], name="shipment_lab_status"),
            models.Index(fields=["site", "status"], name="shipment_site_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ShipmentStatus.values), name="shipment_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site} → {self.lab} #{self.pk}"

    def scope(self) -> Scope:
        """Both ends see it: the site's staff (site/place grants) and the lab's."""
        return Scope(place_path=self.site.ward.path, site_id=self.site_id, lab_id=self.lab_id)


class ShipmentTube(CarriesProvince):
    """A tube on a shipment's manifest, and whether the lab found it in the box."""

    province_source = "shipment"
    # Found through its shipment, never filtered by province: no index of its own (under
    # Citus it is the distribution column, which needs none).
    province_code = models.CharField(max_length=4, editable=False)

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="items")
    tube = models.ForeignKey("sampling.Tube", on_delete=models.PROTECT, related_name="shipments")
    # False once the tube was taken off while packing or the shipment was cancelled.
    active = models.BooleanField(default=True)
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Set when the lab scans it out of the box during receipt.
    scanned_at = models.DateTimeField(_("found in the box at"), null=True, blank=True)
    # Set when the tube moved to `received` (the shipment's receipt, or later for a
    # tube that arrived late): the lab worklist's clock starts here.
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)

    class Meta:
        verbose_name = _("tube on a shipment")
        verbose_name_plural = _("tubes on shipments")
        ordering = ["shipment", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tube"],
                condition=models.Q(active=True),
                name="shipment_tube_on_one_live_shipment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}:{self.tube_id}"


class ReceiptDiscrepancy(models.Model):
    """Something the lab found that does not match the manifest, recorded at receipt."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="discrepancies")
    kind = models.CharField(_("kind"), max_length=20, choices=DiscrepancyKind.choices)
    # The scanned or listed code; the tube when the label is known.
    tube_code = models.CharField(_("tube"), max_length=40)
    tube = models.ForeignKey(
        "sampling.Tube", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    # A missing tube that turned up later (scanned after the receipt).
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("receipt discrepancy")
        verbose_name_plural = _("receipt discrepancies")
        ordering = ["shipment", "kind", "tube_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "kind", "tube_code"], name="discrepancy_once_per_tube"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.tube_code}"


class ReceiptScan(CarriesProvince):
    """One code the lab scanned out of a shipment's box before pressing "receive":
    kept on the server so a reloaded page or a second bench computer loses nothing."""

    province_source = "shipment"
    # Found through its shipment, never filtered by province: no index of its own (under
    # Citus it is the distribution column, which needs none).
    province_code = models.CharField(max_length=4, editable=False)

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="scans")
    code = models.CharField(_("scanned code"), max_length=40)
    tube = models.ForeignKey(
        "sampling.Tube", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scanned_at = models.DateTimeField(auto_now_add=True)
    scanned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("scan at receipt")
        verbose_name_plural = _("scans at receipt")
        ordering = ["shipment", "id"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "code"], name="receipt_scan_once"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}:{self.code}"


class TubeRejection(models.Model):
    """A tube the lab refused (leaked, unlabeled, too old, insufficient). Its members
    become *recollect* (swabline.results.services)."""

    tube = models.OneToOneField("sampling.Tube", on_delete=models.PROTECT, related_name="rejection")
    lab = models.ForeignKey("labs.Lab", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=20, choices=RejectionReason.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    rejected_at = models.DateTimeField(auto_now_add=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("rejected tube")
        verbose_name_plural = _("rejected tubes")

    def __str__(self) -> str:
        return f"{self.tube_id}: {self.reason}"
