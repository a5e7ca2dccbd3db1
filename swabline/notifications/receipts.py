"""Delivery receipts from gateways: the second word on a message after "accepted".

A gateway posts `{"receipts": [{"id": "<idempotency key>", "status": "delivered"}]}`
(or one such object) to `/api/v1/notifications/receipts/<channel>`, authenticated
with `NOTIFY_RECEIPT_SECRET`: either `Authorization: Bearer <secret>` or
`X-Swabline-Signature: t=…,v1=…` (HMAC-SHA256 over "<t>." + raw body, as our
webhooks). Applying a receipt twice changes nothing.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from swabline.notifications import services
from swabline.notifications.channels.webhook import HEADER, verify
from swabline.notifications.enums import Reason, Status
from swabline.notifications.models import pk_from_key

DELIVERED = {"delivered", "delivrd", "success", "ok"}
FAILED = {"failed", "undelivered", "undeliv", "rejected", "expired", "bounced", "error"}


@dataclass
class Applied:
    delivered: int = 0
    failed: int = 0
    ignored: int = 0
    unknown: list[str] = field(default_factory=list)


def authentic(headers: Any, body: bytes) -> bool:
    secret = settings.NOTIFY_RECEIPT_SECRET
    if not secret:
        return False
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip(), secret):
        return True
    signature = headers.get(HEADER, "")
    return bool(signature) and verify(secret, body, signature)


def parse(body: bytes) -> list[dict[str, Any]] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    items = data.get("receipts", [data]) if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return None
    return items


def apply(channel: str, items: list[dict[str, Any]]) -> Applied:
    """Move each named message of `channel` to delivered or permanent failure."""
    from swabline.notifications.models import Notification

    applied = Applied()
    now = timezone.now()
    for item in items[:1000]:
        key, word = str(item.get("id", "")), str(item.get("status", "")).lower()
        pk = pk_from_key(key)
        if pk is None or not Notification.objects.filter(pk=pk, channel=channel).exists():
            applied.unknown.append(key[:64])
        elif word in DELIVERED:
            moved = services.transition([pk], Status.DELIVERED, receipt_at=now)
            Notification.objects.filter(pk=pk, delivered_at__isnull=True).update(delivered_at=now)
            applied.delivered += moved
        elif word in FAILED:
            applied.failed += services.transition(
                [pk], Status.PERMANENT_FAILURE, receipt_at=now, reason=Reason.RECEIPT_FAILED
            )
        else:
            applied.ignored += 1
    return applied
