"""Shipment statuses, receipt discrepancies and the shipment state machine (DESIGN §4)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ShipmentStatus(models.TextChoices):
    PACKING = "packing", _("Packing")
    IN_TRANSIT = "in_transit", _("In transit")
    RECEIVED = "received", _("Received")
    CANCELLED = "cancelled", _("Cancelled")


S = ShipmentStatus
# `packing → in transit → received | cancelled` (cancel only before hand-over).
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PACKING: frozenset({S.IN_TRANSIT, S.CANCELLED}),
    S.IN_TRANSIT: frozenset({S.RECEIVED}),
    S.RECEIVED: frozenset(),
    S.CANCELLED: frozenset(),
}


class DiscrepancyKind(models.TextChoices):
    MISSING = "missing", _("On the manifest, not in the box")
    UNEXPECTED = "unexpected", _("In the box, not on the manifest")
    OTHER_CAMPAIGN = "other_campaign", _("From another campaign")
    NOT_CLOSED = "not_closed", _("Tube not closed")
    UNKNOWN_LABEL = "unknown_label", _("Unknown label")
    # A label issued to a site, on a tube with nobody entered (a paper list): the
    # tube is accepted and tested; its result waits for the names (backfill).
    NAMES_MISSING = "names_missing", _("Names missing (paper list not entered)")


class RejectionReason(models.TextChoices):
    LEAKED = "leaked", _("Leaked")
    UNLABELED = "unlabeled", _("Unlabeled or unreadable label")
    TOO_OLD = "too_old", _("Too old")
    INSUFFICIENT = "insufficient", _("Insufficient sample")
    OTHER = "other", _("Other")
