"""Killing the worker mid-batch loses no message and sends none twice beyond the
gateway's idempotency key (issue #6 acceptance).

Real processes on a file-backed database (SQLite file, or a PostgreSQL database of
its own on the suite's server): `manage.py migrate`, a seed releasing 60 people, then
`manage.py notifications_worker` against a local HTTP gateway that answers slowly.
The first worker is SIGKILLed with a batch in flight; a second one (short lease)
takes the orphaned rows again and delivers everything; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from swabline.notifications.models import idempotency_key
from tests.faults.procs import assert_logs_clean
from tests.notifications.gateway import Gateway

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 60
BATCH = 10


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    engine = settings.DATABASES["default"]["ENGINE"]
    if "sqlite" in engine:
        yield f"sqlite:///{tmp_path / 'kill.sqlite3'}"
        return
    import psycopg
    from psycopg.conninfo import make_conninfo

    db = settings.DATABASES["default"]
    name = f"h_notify_kill_{uuid.uuid4().hex[:8]}"
    base = make_conninfo(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        dbname="postgres", password=db["PASSWORD"] or None,
    )  # fmt: skip
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    user = db["USER"] or "postgres"
    yield f"postgresql://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def statuses(url: str) -> dict[str, int]:
    sql = "SELECT status, count(*) FROM notifications_notification GROUP BY status"
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return dict(conn.execute(sql).fetchall())
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute(sql).fetchall())


def ids(url: str) -> list[int]:
    sql = "SELECT id FROM notifications_notification"
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return [r[0] for r in conn.execute(sql)]
    import psycopg

    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(sql)]


def run(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300
    )


def wait_for(check, timeout: float) -> None:
    ends = time.monotonic() + timeout
    while not check():
        if time.monotonic() > ends:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_killed_worker_loses_nothing_and_sends_nothing_twice(database_url, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "swabline.settings",
        "LOG_LEVEL": "INFO",
        "NOTIFY_CHANNELS": "sms",
        "NOTIFY_SMS_BACKEND": "http",
        "NOTIFY_BATCH_SIZE": str(BATCH),
        "NOTIFY_THREADS": "2",
        "NOTIFY_LEASE_SECONDS": "2",
        "NOTIFY_POLL_SECONDS": "1",
    }
    env.pop("TEST_DATABASE_NAME", None)
    run(env, "manage.py", "migrate", "--no-input", "-v0", "--skip-checks")
    run(env, "-m", "tests.notifications.killseed", str(PEOPLE))
    assert statuses(database_url) == {"created": PEOPLE}

    with Gateway(delay=0.05) as gateway:
        env["NOTIFY_SMS_URL"] = gateway.url
        command = [sys.executable, "manage.py", "notifications_worker"]
        log = tmp_path / "worker.log"
        out = log.open("ab")  # both workers' logs, scanned for personal data at the end
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: len(gateway.requests) >= BATCH + 3, 60)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        stuck = statuses(database_url).get("sending", 0)
        assert stuck > 0, "the kill should leave a batch in flight"

        second = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: statuses(database_url) == {"delivered": PEOPLE}, 90)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0  # a graceful stop

    keys = {idempotency_key(pk) for pk in ids(database_url)}
    assert set(gateway.sent) == keys  # every message reached the gateway…
    assert set(gateway.sent.values()) == {1}  # …and was sent once (deduped by key)
    repeated = {k for k, n in gateway.attempts.items() if n > 1}
    # Only messages of the batch in flight at the kill were posted again.
    assert len(repeated) <= BATCH
    assert sum(gateway.attempts.values()) <= PEOPLE + BATCH
    out.close()
    assert assert_logs_clean(log) > 0
