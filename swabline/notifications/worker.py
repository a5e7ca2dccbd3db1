"""The outbox worker: claim a batch, deliver it through the channels, record the fates.

`manage.py notifications_worker` runs `Worker.run` in a loop (several processes may
run at once on PostgreSQL). One round (`Worker.run_once`):

1. **claim** up to `NOTIFY_BATCH_SIZE` rows in one statement — pending rows that are
   due, and `sending` rows whose lease ran out (their worker died) — moving them to
   `sending` with a fresh claim token and lease, `attempts + 1`. On PostgreSQL the
   rows are picked with ``FOR UPDATE SKIP LOCKED``, so workers never wait for each
   other; on SQLite the IMMEDIATE transaction makes one claim at a time.
2. **check** each row against the record as it is now: an SMS or e-mail goes only to
   the phone or address the person's record holds *now* (otherwise: permanent
   failure, "recipient changed"); a webhook only while the consent and the endpoint
   are active.
3. **deliver** through the transports, many messages in flight at once (a thread
   pool; keep-alive connections per thread), each with its idempotency key.
4. **record** with a few set-based UPDATEs (`services.transition`, compare-and-set on
   the claim): delivered; retried later with exponential backoff and jitter; or
   permanently failed (a refusal, or too many attempts).

A worker killed anywhere in this loses nothing: its rows stay `sending` until the
lease runs out and another worker takes them again, with the same idempotency key,
so a gateway that honours the key sends each message once.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from swabline.notifications import messages, services
from swabline.notifications.channels import Outgoing, Sent, Transports
from swabline.notifications.enums import ALLOWED, PENDING, Channel, Reason, Status, Trigger
from swabline.notifications.models import Notification, idempotency_key
from swabline.people.models import Consent

logger = logging.getLogger("swabline.notifications")

ROW_FIELDS = (
    "id",
    "channel",
    "recipient",
    "state",
    "trigger",
    "attempts",
    "person_id",
    "person__phone",
    "person__email",
    "person__code",
    "person__public_id",
    "outcome__campaign__public_id",
    "outcome__decided_at",
    "endpoint__partner_id",
    "endpoint__active",
    "endpoint__url",
    "endpoint__secret",
)


@dataclass(frozen=True)
class Policy:
    batch: int
    threads: int
    lease_seconds: int
    max_attempts: int
    retry_base: float
    retry_max: float

    @classmethod
    def from_settings(cls) -> Policy:
        return cls(
            batch=settings.NOTIFY_BATCH_SIZE,
            threads=settings.NOTIFY_THREADS,
            lease_seconds=settings.NOTIFY_LEASE_SECONDS,
            max_attempts=settings.NOTIFY_MAX_ATTEMPTS,
            retry_base=settings.NOTIFY_RETRY_BASE_SECONDS,
            retry_max=settings.NOTIFY_RETRY_MAX_SECONDS,
        )

    def backoff(self, attempts: int, rng: random.Random) -> float:
        """Seconds before attempt `attempts + 1`: base·2^(attempts-1), capped, with
        "equal jitter" (half fixed, half random) so retries of a batch spread out."""
        delay = min(self.retry_max, self.retry_base * 2 ** max(0, attempts - 1))
        return delay / 2 + rng.uniform(0, delay / 2)


def claim(limit: int, lease_seconds: int) -> tuple[str, list[int]]:
    """Take up to `limit` rows for this worker: the `→ sending` transition, in its
    set-based, skip-locked form. Returns the claim token and the rows' ids."""
    token = secrets.token_hex(8)
    now = timezone.now()
    until = now + timedelta(seconds=lease_seconds)
    sources = ALLOWED[Status.SENDING]
    pending: list[str] = [s for s in PENDING if s in sources]
    if connection.vendor == "postgresql":
        return token, _claim_postgres(token, now, until, limit, pending)
    with transaction.atomic():  # BEGIN IMMEDIATE: one claim at a time on SQLite
        ids = list(
            Notification.objects.filter(status__in=pending, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if len(ids) < limit:
            ids += Notification.objects.filter(
                status=Status.SENDING, lease_until__lt=now
            ).values_list("pk", flat=True)[: limit - len(ids)]
        if not ids:
            return token, []
        from django.db.models import F

        Notification.objects.filter(pk__in=ids, status__in=sources).update(
            status=Status.SENDING,
            claim=token,
            lease_until=until,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
        )
        return token, list(
            Notification.objects.filter(pk__in=ids, claim=token).values_list("pk", flat=True)
        )


CLAIM_SQL = """
UPDATE notifications_notification n
SET status = %s, claim = %s, lease_until = %s, attempts = n.attempts + 1, last_attempt_at = %s
FROM (SELECT id FROM notifications_notification WHERE {condition}
      ORDER BY {order} LIMIT %s FOR UPDATE SKIP LOCKED) c
WHERE n.id = c.id
RETURNING n.id
"""


def _claim_postgres(token: str, now: Any, until: Any, limit: int, pending: list[str]) -> list[int]:
    ids: list[int] = []
    head = [Status.SENDING, token, until, now]
    with connection.cursor() as cursor:
        # Rows whose worker died first (they have waited longest), then due ones.
        for condition, order, params in (
            ("status = %s AND lease_until < %s", "lease_until", [Status.SENDING, now]),
            (
                "status = ANY(%s) AND next_attempt_at <= %s",
                "next_attempt_at",
                [pending, now],
            ),
        ):
            if len(ids) >= limit:
                break
            cursor.execute(
                CLAIM_SQL.format(condition=condition, order=order),
                [*head, *params, limit - len(ids)],
            )
            ids += [row[0] for row in cursor.fetchall()]
    return ids


class Worker:
    """Delivers the outbox. Build once per process (it keeps connections and threads)."""

    def __init__(self, policy: Policy | None = None, transports: Transports | None = None):
        self.policy = policy or Policy.from_settings()
        self.transports = transports or Transports.from_settings()
        self.pool = ThreadPoolExecutor(max_workers=self.policy.threads)
        self.stopping = threading.Event()
        self.rng = random.Random()  # noqa: S311 (jitter, not secrets)

    def run(self, *, until_idle: bool = False, max_seconds: float | None = None) -> int:
        """Loop until `stop()` (a signal), or until nothing is due (`until_idle`), or
        `max_seconds`. Finishes the batch in hand before stopping. Returns how many
        rows it handled."""
        handled = 0
        ends = None if max_seconds is None else time.monotonic() + max_seconds
        while not self.stopping.is_set():
            if ends is not None and time.monotonic() >= ends:
                break
            count = self.run_once()
            handled += count
            if not count:
                if until_idle:
                    break
                self.stopping.wait(settings.NOTIFY_POLL_SECONDS)
        return handled

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.transports.close()

    def run_once(self) -> int:
        """Claim, deliver and record one batch; returns the number of rows claimed."""
        token, ids = claim(self.policy.batch, self.policy.lease_seconds)
        if not ids:
            return 0
        rows = list(Notification.objects.filter(pk__in=ids).values(*ROW_FIELDS))
        fates = self.deliver(rows)
        counts = self.record(token, rows, fates)
        logger.info(
            "notifications batch",
            extra={
                "event": "notifications.batch",
                "count": len(ids),
                "status": " ".join(f"{k}={v}" for k, v in sorted(counts.items())),
            },
        )
        return len(ids)

    def deliver(self, rows: list[dict[str, Any]]) -> dict[int, Sent]:
        """Check each row against the record, then send by channel."""
        fates: dict[int, Sent] = {}
        consents = _active_consents(rows)
        outgoing: dict[str, list[Outgoing]] = defaultdict(list)
        for row in rows:
            refused = _refusal(row, consents, self.policy.max_attempts)
            if refused is not None:
                fates[row["id"]] = Sent.failed(refused)
                continue
            outgoing[row["channel"]].append(_outgoing(row))
        for channel, batch in outgoing.items():
            transport = self.transports.by_channel.get(channel)
            if transport is None:
                sent = [Sent.failed(Reason.NOT_CONFIGURED)] * len(batch)
            else:
                sent = transport.send(batch, self.pool)
            fates.update({m.id: s for m, s in zip(batch, sent, strict=True)})
        return fates

    def record(
        self, token: str, rows: list[dict[str, Any]], fates: dict[int, Sent]
    ) -> dict[str, int]:
        """The fates as a few UPDATEs in one transaction; returns counts per status."""
        now = timezone.now()
        attempts = {row["id"]: row["attempts"] for row in rows}
        delivered: list[int] = []
        failed: dict[str, list[int]] = defaultdict(list)
        retry: dict[tuple[str, int], list[int]] = defaultdict(list)
        for pk, sent in fates.items():
            if sent.ok:
                delivered.append(pk)
            elif not sent.temporary:
                failed[sent.reason].append(pk)
            elif attempts[pk] >= self.policy.max_attempts:
                failed[Reason.TOO_MANY_ATTEMPTS].append(pk)
            else:
                delay = round(self.policy.backoff(attempts[pk], self.rng))
                retry[(sent.reason, delay)].append(pk)
        done = {"lease_until": None}
        with transaction.atomic():
            services.transition(
                delivered, Status.DELIVERED, claim=token, delivered_at=now, reason="", **done
            )
            for reason, ids in failed.items():
                services.transition(
                    ids, Status.PERMANENT_FAILURE, claim=token, reason=reason, **done
                )
            for (reason, delay), ids in retry.items():
                services.transition(
                    ids,
                    Status.TEMPORARY_FAILURE,
                    claim=token,
                    reason=reason,
                    next_attempt_at=now + timedelta(seconds=delay),
                    **done,
                )
        return {
            Status.DELIVERED: len(delivered),
            Status.PERMANENT_FAILURE: sum(len(v) for v in failed.values()),
            Status.TEMPORARY_FAILURE: sum(len(v) for v in retry.values()),
        }


def _active_consents(rows: list[dict[str, Any]]) -> set[tuple[int, int]]:
    people = {row["person_id"] for row in rows if row["channel"] == Channel.WEBHOOK}
    if not people:
        return set()
    return set(
        Consent.objects.filter(person_id__in=people, revoked_at__isnull=True).values_list(
            "person_id", "partner_id"
        )
    )


def _refusal(row: dict[str, Any], consents: set[tuple[int, int]], max_attempts: int) -> str | None:
    """Why this row must not be sent (as the record is now), or None."""
    if row["attempts"] > max_attempts:
        return Reason.TOO_MANY_ATTEMPTS
    channel = row["channel"]
    if channel == Channel.SMS and row["recipient"] != row["person__phone"]:
        return Reason.RECIPIENT_CHANGED
    if channel == Channel.EMAIL and row["recipient"] != row["person__email"]:
        return Reason.RECIPIENT_CHANGED
    if channel == Channel.WEBHOOK:
        if not row["endpoint__active"]:
            return Reason.ENDPOINT_INACTIVE
        if (row["person_id"], row["endpoint__partner_id"]) not in consents:
            return Reason.NO_CONSENT
    return None


def _outgoing(row: dict[str, Any]) -> Outgoing:
    key = idempotency_key(row["id"])
    corrected = row["trigger"] == Trigger.CORRECTION
    channel = row["channel"]
    if channel == Channel.WEBHOOK:
        return Outgoing(
            id=row["id"],
            key=key,
            recipient=row["endpoint__url"],
            body=messages.webhook_body(row, key),
            secret=row["endpoint__secret"],
        )
    if channel == Channel.SMS:
        text = messages.sms_text(row["state"], row["person__code"], corrected=corrected)
        return Outgoing(id=row["id"], key=key, recipient=row["recipient"], text=text)
    rendered = messages.render(row["state"], row["person__code"], corrected=corrected)
    return Outgoing(
        id=row["id"],
        key=key,
        recipient=row["recipient"],
        text=rendered.body,
        subject=rendered.subject,
    )
