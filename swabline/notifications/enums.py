"""Channels, statuses and the allowed status transitions of an outbox row (DESIGN §4)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Partner app (webhook)")


class Status(models.TextChoices):
    CREATED = "created", _("Waiting")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    TEMPORARY_FAILURE = "temporary_failure", _("Failed, will retry")
    PERMANENT_FAILURE = "permanent_failure", _("Failed")


S = Status
# to ← from. `sending → sending` is a reclaim: the lease of a worker that died ran
# out. `delivered → permanent_failure` is a gateway's receipt saying the handset
# never got it. A permanent failure is final: staff resend with a new row.
ALLOWED: dict[str, frozenset[str]] = {
    S.CREATED: frozenset(),
    S.SENDING: frozenset({S.CREATED, S.TEMPORARY_FAILURE, S.SENDING}),
    S.DELIVERED: frozenset({S.SENDING, S.DELIVERED}),
    S.TEMPORARY_FAILURE: frozenset({S.SENDING}),
    S.PERMANENT_FAILURE: frozenset({S.SENDING, S.TEMPORARY_FAILURE, S.DELIVERED}),
}
# Waiting to be claimed (the claim's partial index).
PENDING = (S.CREATED, S.TEMPORARY_FAILURE)


class Trigger(models.TextChoices):
    """Why the row was written."""

    RELEASE = "release", _("Result released")
    CORRECTION = "correction", _("Result corrected")
    REJECTION = "rejection", _("Tube rejected")
    RESEND = "resend", _("Resent by staff")


class Reason(models.TextChoices):
    """Why delivery failed: a code, never the gateway's text (it may quote the number)."""

    RECIPIENT_CHANGED = "recipient_changed", _("Recipient changed")
    NO_CONSENT = "no_consent", _("Consent withdrawn")
    ENDPOINT_INACTIVE = "endpoint_inactive", _("Partner endpoint disabled")
    REJECTED = "rejected", _("Refused by the gateway")
    UNREACHABLE = "unreachable", _("Gateway unreachable")
    GATEWAY_ERROR = "gateway_error", _("Gateway error")
    TOO_MANY_ATTEMPTS = "too_many_attempts", _("Too many attempts")
    RECEIPT_FAILED = "receipt_failed", _("Not delivered to the handset")
    NOT_CONFIGURED = "not_configured", _("Channel not configured")
