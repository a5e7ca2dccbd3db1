"""Writes about partner apps' webhook endpoints (the management command, the admin)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils.translation import gettext as _

from swabline.accounts.enums import Role
from swabline.audit import services as audit
from swabline.notifications.models import WebhookEndpoint


def register(*, by: Any, partner: Any, url: str) -> WebhookEndpoint:
    """Give `partner` (a user with the partner role) a new active endpoint at `url`,
    replacing their active one, with a new secret. One transaction, audited."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"url": _("Enter an http or https address.")}) from None
    if not partner.assignments.filter(role=Role.PARTNER).exists():
        raise ValidationError(_("Only a partner app can receive webhooks."))
    with transaction.atomic():
        WebhookEndpoint.objects.filter(partner=partner, active=True).update(active=False)
        endpoint = WebhookEndpoint.objects.create(partner=partner, url=url)
        audit.record(
            by=by, action="notifications.endpoint_registered", subject=endpoint, province_code=""
        )
    return endpoint


def disable(*, by: Any, partner: Any) -> int:
    """Stop sending to `partner`: queued webhooks to them fail as "endpoint disabled"."""
    with transaction.atomic():
        count = WebhookEndpoint.objects.filter(partner=partner, active=True).update(active=False)
        audit.record(
            by=by, action="notifications.endpoint_disabled", subject=partner, province_code=""
        )
    return count
