"""The notification outbox and the partner apps' webhook endpoints.

A `Notification` is one message to one recipient on one channel about one
decided outcome (DESIGN §3). Rows are appended set-based inside the release's
transaction (`services.queue_for_release`), so like `results.Outcome` its references
carry no database constraints and it has only the indexes its readers use: the
claim (pending rows by due time, partial), the lease reclaim (sending rows, partial,
empty at insert time), a person's messages, and resends' client ids (partial).
The message body is never stored: it is rendered at delivery from the outcome.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.core.scope import Scope
from swabline.notifications.enums import PENDING, Channel, Reason, Status, Trigger


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """Where a partner app (a user with the partner role) receives its consented
    people's results, signed with `secret` (HMAC-SHA256, see docs/notifications.md)."""

    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="webhook_endpoints",
        verbose_name=_("partner"),
    )
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=100, default=new_secret)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        constraints = [
            models.UniqueConstraint(
                fields=["partner"],
                condition=models.Q(active=True),
                name="webhook_one_active_per_partner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} → {self.url}"


class Notification(models.Model):
    province_code = models.CharField(max_length=4, editable=False)
    person = models.ForeignKey(
        "people.Person",
        on_delete=models.PROTECT,
        related_name="notifications",
        db_constraint=False,
    )
    outcome = models.ForeignKey(
        "results.Outcome",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    release = models.ForeignKey(
        "results.Release",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    # The outcome state the message tells (copied: a later correction writes new rows).
    state = models.CharField(_("outcome"), max_length=12)
    trigger = models.CharField(_("why"), max_length=12, choices=Trigger.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    # Phone (E.164) or e-mail address as on the person's record when written, or the
    # partner endpoint's URL. Delivery re-checks a phone/e-mail against the record.
    recipient = models.CharField(_("recipient"), max_length=500)
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.CREATED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # While `sending`: until when the claiming worker owns the row, and its claim.
    lease_until = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=16, blank=True, default="")
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    receipt_at = models.DateTimeField(_("receipt at"), null=True, blank=True)
    # A staff resend's id from the form, so a double submit writes one row.
    client_id = models.UUIDField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=[s.value for s in PENDING]),
                name="notification_pending",
            ),
            models.Index(
                fields=["lease_until"],
                condition=models.Q(status=Status.SENDING),
                name="notification_sending",
            ),
        ]
        constraints = [
            # A resend writes a row per outcome and channel under one client id.
            models.UniqueConstraint(
                fields=["client_id", "outcome", "channel", "recipient"],
                condition=models.Q(client_id__isnull=False),
                name="notification_client_id_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=Status.values), name="notification_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pk} {self.channel} {self.status}"

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.pk)

    def scope(self) -> Scope:
        return Scope(place_path=self.person.ward.path)


def _key_mac(pk: int) -> str:
    # Keyed BLAKE2b (a MAC by design; faster than HMAC, computed per message).
    key = hashlib.sha256(b"swabline-notification:" + settings.SECRET_KEY.encode()).digest()
    return hashlib.blake2b(str(pk).encode(), key=key, digest_size=10).hexdigest()


def idempotency_key(pk: int) -> str:
    """The message's stable key, the same on every attempt: sent to gateways as
    `Idempotency-Key`, as the e-mail's Message-ID, and named by delivery receipts.
    Derived from the row (signed, so a receipt cannot name someone else's message),
    so the bulk INSERT…SELECT writes no extra column or index."""
    return f"swb-{pk}-{_key_mac(pk)}"


def pk_from_key(key: str) -> int | None:
    """The row a key names, or None if it is not one of ours."""
    parts = key.split("-")
    if len(parts) != 3 or parts[0] != "swb" or not parts[1].isdigit():
        return None
    pk = int(parts[1])
    return pk if secrets.compare_digest(parts[2], _key_mac(pk)) else None
