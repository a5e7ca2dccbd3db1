"""Why a tube scan was refused or noted, as stable reason codes (the API sends them)
and the sentence each one says to the courier or the lab, in the active language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class Reason:
    """Reason codes (stable: API clients branch on them)."""

    MISTYPED = "mistyped"
    WRONG_LENGTH = "wrong_length"
    UNKNOWN = "unknown_label"
    OPEN = "tube_open"
    VOID = "tube_void"
    OTHER_SITE = "other_site"
    OTHER_CAMPAIGN = "other_campaign"
    ALREADY_SHIPPED = "already_shipped"
    ON_OTHER_SHIPMENT = "on_other_shipment"
    ALREADY_ADDED = "already_added"
    NOT_ON_SHIPMENT = "not_on_shipment"
    NOT_PACKING = "not_packing"
    NOT_IN_TRANSIT = "not_in_transit"
    EMPTY = "empty"
    NOT_RECEIVABLE = "not_receivable"
    NOT_AT_LAB = "not_at_lab"
    ALREADY_REJECTED = "already_rejected"
    NOTE_NEEDED = "note_needed"
    ALREADY_SCANNED = "already_scanned"
    NOT_MISSING = "not_missing"


MESSAGES: Mapping[str, Any] = {
    Reason.MISTYPED: _(
        "%(code)s is not a valid tube label: the check digit does not match. "
        "The code was probably mistyped or misread — scan it again."
    ),
    Reason.WRONG_LENGTH: _(
        "%(code)s has %(digits)d digits; tube labels have 12. "
        "The code was probably mistyped or misread — scan it again."
    ),
    Reason.UNKNOWN: _("No tube has the label %(code)s."),
    Reason.OPEN: _(
        "Tube %(code)s is still open. Close it at the station before it can be shipped."
    ),
    Reason.VOID: _("Tube %(code)s was cancelled at the site and cannot be shipped."),
    Reason.OTHER_SITE: _("Tube %(code)s belongs to another site (%(site)s)."),
    Reason.OTHER_CAMPAIGN: _("Tube %(code)s belongs to another campaign (%(campaign)s)."),
    Reason.ALREADY_SHIPPED: _("Tube %(code)s has already left the site (%(status)s)."),
    Reason.ON_OTHER_SHIPMENT: _("Tube %(code)s is already packed in another shipment."),
    Reason.ALREADY_ADDED: _("Tube %(code)s is already in this shipment."),
    Reason.NOT_ON_SHIPMENT: _("Tube %(code)s is not in this shipment."),
    Reason.NOT_PACKING: _(
        "This shipment has been handed over or cancelled: it can no longer change."
    ),
    Reason.NOT_IN_TRANSIT: _("This shipment is not on its way to the lab."),
    Reason.EMPTY: _("An empty shipment cannot be handed over: scan its tubes first."),
    Reason.NOT_RECEIVABLE: _("Tube %(code)s cannot be changed any more (%(status)s)."),
    Reason.NOT_AT_LAB: _("Tube %(code)s has not been sent to this lab."),
    Reason.ALREADY_REJECTED: _("Tube %(code)s has already been rejected."),
    Reason.NOTE_NEEDED: _("Say what was wrong with the tube."),
    Reason.ALREADY_SCANNED: _("Tube %(code)s was already scanned."),
    Reason.NOT_MISSING: _("Tube %(code)s is not missing from this shipment."),
}


class ShippingError(ValidationError):
    """A refused shipping action: `code` is the reason, the message is translated."""

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(MESSAGES[reason], code=reason, params=params)
        self.reason = reason

    @property
    def text(self) -> str:
        return " ".join(self.messages)


def say(reason: str, **params: Any) -> str:
    """The sentence for `reason` with its parameters, in the active language."""
    return str(MESSAGES[reason]) % params
