"""Signed webhooks to partner apps that hold a person's consent.

Each POST carries the JSON body, `Idempotency-Key`, and
`X-Swabline-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`
(the scheme Stripe uses). A partner recomputes the HMAC over the raw body with its
endpoint's secret, compares in constant time, and refuses a `t` older than five
minutes (replays). See docs/notifications.md.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from swabline.notifications.channels import Outgoing, Sent, from_http_status, spread
from swabline.notifications.channels.http import HttpClient
from swabline.notifications.enums import Reason

HEADER = "X-Swabline-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now: float | None = None) -> bool:
    """What a partner does (and our receipt endpoint): True if `header` signs `body`."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - t) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


class WebhookTransport:
    def __init__(self) -> None:
        self.client = HttpClient(timeout=settings.NOTIFY_HTTP_TIMEOUT)

    def _one(self, m: Outgoing) -> Sent:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": m.key,
            HEADER: sign(m.secret, m.body),
        }
        try:
            status, _body = self.client.post(m.recipient, m.body, headers)
        except OSError:
            return Sent.retry(Reason.UNREACHABLE)
        except ValueError:
            return Sent.retry(Reason.GATEWAY_ERROR)
        return from_http_status(status)

    def send(self, messages: list[Outgoing], pool: ThreadPoolExecutor) -> list[Sent]:
        return spread(pool, self._one, messages)

    def close(self) -> None:
        self.client.close()
