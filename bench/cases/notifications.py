"""Notification delivery: the outbox worker draining SMS to a local HTTP gateway.

notify-sms-http: `swabline.notifications.worker.Worker.run_once` in each DB worker
    process (so two workers claiming with SKIP LOCKED, as two
    `manage.py notifications_worker` would), over outbox rows written beforehand
    (180,000 per measurement, one INSERT…SELECT), through the real HTTP SMS
    channel: one POST per message with its Idempotency-Key, keep-alive connections,
    `NOTIFY_THREADS` in flight per process. Units are messages claimed and recorded
    (delivered). The gateway (`bench/sms_gateway.py`) is a separate process.
notify-sms-http-batch: the same with the gateway's batch API (`NOTIFY_SMS_BATCH=50`:
    50 messages per POST). Reported beside the other, not instead of it.
sms-gateway-raw: the baseline — the same client (thread pool, keep-alive
    `http.client` connections) posting the same messages to the same gateway with no
    database at all: the ceiling of client + gateway on this machine.

PostgreSQL only (the issue's target is for PostgreSQL).
"""

from __future__ import annotations

import atexit
import datetime as dt
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from bench.config import ROOT
from bench.leg import Leg
from bench.registry import DbCase, DbOp, Target, register

PEOPLE = 12_000
PER_PERSON = 15  # outbox rows per person and measurement (180,000)
BATCH = 500
THREADS = 16
_gateway: dict[str, Any] = {}


def gateway_url() -> str:
    """Start the gateway process once per leg (stopped at exit); its URL."""
    if "url" not in _gateway:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.sms_gateway", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the bench SMS gateway did not start")
        atexit.register(process.terminate)
        _gateway.update(url=f"http://127.0.0.1:{port}/send", process=process)
    return str(_gateway["url"])


def _world() -> dict[str, Any]:
    """A ward, a campaign and PEOPLE people with phones and one (superseded) outcome
    each, made once per benchmark database."""
    from django.db import connection
    from django.utils import timezone

    from swabline.accounts.models import User
    from swabline.campaigns.models import Campaign
    from swabline.people.models import Person
    from swabline.places.enums import Level, System
    from swabline.places.models import Place

    province, _ = Place.objects.get_or_create(
        system=System.CURRENT, level=Level.PROVINCE, code="BENCH-NP",
        defaults={"name": "Tỉnh Bench Notify", "short_name": "Bench", "kind": "Tỉnh",
                  "name_folded": "tinh bench notify", "path": "", "province_code": "97"},
    )  # fmt: skip
    if not province.path:
        province.path = f"/{province.pk}/"
        province.save(update_fields=["path"])
    ward, _ = Place.objects.get_or_create(
        system=System.CURRENT, level=Level.WARD, code="BENCH-NW",
        defaults={"name": "Phường Bench Notify", "short_name": "Bench", "kind": "Phường",
                  "name_folded": "phuong bench notify", "parent": province, "path": "",
                  "province_code": "97"},
    )  # fmt: skip
    if not ward.path:
        ward.path = f"{province.path}{ward.pk}/"
        ward.save(update_fields=["path"])
    today = dt.date.today()  # noqa: DTZ011
    campaign, _ = Campaign.objects.get_or_create(
        name="Bench notifications",
        province=province,
        defaults={"starts_on": today, "ends_on": today + dt.timedelta(days=3)},
    )
    User.objects.get_or_create(username="bench-notify")
    have = Person.objects.filter(ward=ward).count()
    if have < PEOPLE:
        now = timezone.now()
        Person.objects.bulk_create(
            Person(
                full_name=f"Bench Notify {i}", name_folded=f"bench notify {i}", birth_year=1980,
                sex="M", phone=f"+8497{i:07d}", ward=ward, province_code="97",
                code=f"N{i:07d}"[:8], qr_token=f"BN{i:024d}", public_id=f"bench-notify-{i}",
                identity_key=f"bench-notify-{i}", created_at=now, updated_at=now,
            )
            for i in range(have, PEOPLE)
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO results_outcome (province_code, person_id, campaign_id, state,"
                " tube_id, sample_id, result_id, release_id, current, decided_at, superseded_at)"
                " SELECT p.province_code, p.id, %s, 'negative', 0, 0, NULL, NULL, false, %s, %s"
                " FROM people_person p WHERE p.ward_id = %s AND NOT EXISTS"
                " (SELECT 1 FROM results_outcome o WHERE o.person_id = p.id"
                " AND o.campaign_id = %s)",
                [campaign.pk, now, now, ward.pk, campaign.pk],
            )
    return {"ward": ward.pk, "campaign": campaign.pk}


def _fill_outbox(world: dict[str, Any]) -> int:
    """Retire what earlier measurements left, then write a fresh outbox (one
    INSERT…SELECT, as a release does)."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE notifications_notification SET status = 'delivered', lease_until = NULL"
            " WHERE status IN ('created', 'temporary_failure', 'sending')"
        )
        cursor.execute(
            "INSERT INTO notifications_notification (province_code, person_id, outcome_id,"
            " release_id, state, trigger, channel, recipient, endpoint_id, status, attempts,"
            " next_attempt_at, claim, reason, created_at, client_id)"
            " SELECT o.province_code, o.person_id, o.id, NULL, o.state, 'release', 'sms',"
            " p.phone, NULL, 'created', 0, %s, '', '', %s, NULL"
            " FROM results_outcome o JOIN people_person p ON p.id = o.person_id"
            " CROSS JOIN generate_series(1, %s) g"
            " WHERE o.campaign_id = %s",
            [now, now, PER_PERSON, world["campaign"]],
        )
        written = int(cursor.rowcount)
        cursor.execute("ANALYZE notifications_notification")
    return written


class _SmsCase(DbCase):
    unit = "msg/s"
    legs = frozenset({"postgresql"})
    sms_batch: ClassVar[int] = 1

    def setup(self, leg: Leg) -> None:
        self.url = gateway_url()
        self.world = _world()
        self.rows = _fill_outbox(self.world)

    @contextmanager
    def session(self, leg: Leg, worker: int) -> Iterator[DbOp]:
        from django.conf import settings

        from swabline.notifications.worker import Worker

        settings.NOTIFY_SMS_BACKEND = "http"
        settings.NOTIFY_SMS_URL = self.url
        settings.NOTIFY_SMS_BATCH = self.sms_batch
        settings.NOTIFY_BATCH_SIZE = BATCH
        settings.NOTIFY_THREADS = THREADS
        settings.NOTIFY_LANGUAGE = "vi"
        runner = Worker()

        def drain_batch(seq: int, rng: random.Random) -> int:
            return runner.run_once()

        try:
            yield drain_batch
        finally:
            runner.close()


@register
class SmsGatewayRaw(DbCase):
    id = "sms-gateway-raw"
    title = "Raw client → local SMS gateway (no database), 500 POSTs per op"
    unit = "msg/s"
    legs = frozenset({"postgresql"})

    def setup(self, leg: Leg) -> None:
        self.url = gateway_url()

    @contextmanager
    def session(self, leg: Leg, worker: int) -> Iterator[DbOp]:
        import json
        from concurrent.futures import ThreadPoolExecutor

        from swabline.notifications.channels import spread
        from swabline.notifications.channels.http import HttpClient

        client = HttpClient(timeout=10)
        pool = ThreadPoolExecutor(max_workers=THREADS)
        text = "Swabline: ket qua xet nghiem cua ma ABCD-EFGH: AM TINH. Xem: http://x/lookup/"

        def post(i: int) -> int:
            body = json.dumps({"to": "+84970000001", "text": text}).encode()
            headers = {"Content-Type": "application/json", "Idempotency-Key": f"raw-{i}"}
            return client.post(self.url, body, headers)[0]

        def batch(seq: int, rng: random.Random) -> int:
            statuses = spread(pool, post, list(range(seq * BATCH, (seq + 1) * BATCH)))
            return sum(1 for s in statuses if s == 200)

        try:
            yield batch
        finally:
            pool.shutdown()
            client.close()


@register
class NotifySmsHttp(_SmsCase):
    id = "notify-sms-http"
    title = "Outbox worker → local HTTP SMS gateway, one POST per message"
    baseline = "sms-gateway-raw"
    target = Target(min_rate=2_000)


@register
class NotifySmsHttpBatch(_SmsCase):
    id = "notify-sms-http-batch"
    title = "Outbox worker → local HTTP SMS gateway, batch API (50 per POST)"
    baseline = "sms-gateway-raw"
    sms_batch = 50
