"""Delivery channels: pluggable transports chosen by settings (docs/notifications.md).

A transport takes a list of `Outgoing` messages and answers one `Sent` per message:
delivered, or a temporary failure (the worker retries with backoff), or a permanent
one. SMS: `console` (development) or `http` (a gateway); e-mail: Django's e-mail
backend (console in development, SMTP); webhook: signed HTTP POSTs to partner apps.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from django.conf import settings

from swabline.notifications.enums import Channel, Reason

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Outgoing:
    id: int
    key: str  # the idempotency key, the same on every attempt
    recipient: str
    text: str = ""
    subject: str = ""
    body: bytes = b""  # webhook JSON
    secret: str = ""  # webhook signing secret


@dataclass(frozen=True)
class Sent:
    ok: bool
    temporary: bool = False
    reason: str = ""

    @classmethod
    def delivered(cls) -> Sent:
        return cls(ok=True)

    @classmethod
    def retry(cls, reason: str) -> Sent:
        return cls(ok=False, temporary=True, reason=reason)

    @classmethod
    def failed(cls, reason: str) -> Sent:
        return cls(ok=False, temporary=False, reason=reason)


def from_http_status(status: int) -> Sent:
    """2xx delivered (accepted); 408, 425, 429 and 5xx retried; other 4xx final."""
    if 200 <= status < 300:
        return Sent.delivered()
    if status in (408, 425, 429) or status >= 500:
        return Sent.retry(Reason.GATEWAY_ERROR)
    return Sent.failed(Reason.REJECTED)


def spread(pool: ThreadPoolExecutor, send: Callable[[T], R], items: list[T]) -> list[R]:
    """`send` over `items` on the pool, in order: one task per thread (a run of items
    each), not one per item — submitting a task costs about as much as a POST."""
    workers = max(1, getattr(pool, "_max_workers", 1))
    size = -(-len(items) // workers) or 1
    runs = [items[i : i + size] for i in range(0, len(items), size)]
    return [r for out in pool.map(lambda run: [send(i) for i in run], runs) for r in out]


class Transport(Protocol):
    def send(self, messages: list[Outgoing], pool: ThreadPoolExecutor) -> list[Sent]: ...

    def close(self) -> None: ...


@dataclass
class Transports:
    """The worker's transports, built once from settings and kept (connections)."""

    by_channel: dict[str, Transport] = field(default_factory=dict)

    @classmethod
    def from_settings(cls) -> Transports:
        from swabline.notifications.channels.mail import EmailTransport
        from swabline.notifications.channels.sms import ConsoleSms, HttpSms
        from swabline.notifications.channels.webhook import WebhookTransport

        sms: Transport = HttpSms() if settings.NOTIFY_SMS_BACKEND == "http" else ConsoleSms()
        return cls(
            {
                Channel.SMS: sms,
                Channel.EMAIL: EmailTransport(),
                Channel.WEBHOOK: WebhookTransport(),
            }
        )

    def close(self) -> None:
        for transport in self.by_channel.values():
            transport.close()
