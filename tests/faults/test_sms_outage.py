"""The SMS gateway down for a while, through the real worker (issue #8, faults).

30 results are released (their SMS rows written by the release, `killseed`), and
`manage.py notifications_worker` runs as a subprocess, retrying with a 1 s backoff
base. The gateway is first not there at all (nothing listens on its port: every
send is refused), then comes up answering 503, then heals. Afterwards every message
is delivered, reached the gateway once (by its idempotency key) and none was given
up; the worker's log lines hold no personal data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swabline.notifications.models import idempotency_key
from tests.faults.procs import (
    ROOT,
    WEB_PORTS,
    assert_logs_clean,
    child_env,
    free_port,
    query,
    run_python,
    wait_for,
)
from tests.notifications.gateway import Gateway

pytestmark = pytest.mark.faults

PEOPLE = 30


def statuses(url: str) -> dict[tuple[str, str], int]:
    sql = "SELECT status, reason, count(*) FROM notifications_notification GROUP BY 1, 2"
    return {(status, reason): n for status, reason, n in query(url, sql)}


def test_gateway_outage_then_back_delivers_everything_once(database_url: str, tmp_path: Path):
    port = free_port(WEB_PORTS)
    env = child_env(
        database_url,
        NOTIFY_CHANNELS="sms", NOTIFY_SMS_BACKEND="http", NOTIFY_SMS_URL=f"http://127.0.0.1:{port}/send",
        NOTIFY_BATCH_SIZE="20", NOTIFY_THREADS="4", NOTIFY_HTTP_TIMEOUT="2",
        NOTIFY_RETRY_BASE_SECONDS="1", NOTIFY_RETRY_MAX_SECONDS="2", NOTIFY_MAX_ATTEMPTS="50",
        NOTIFY_POLL_SECONDS="1",
    )  # fmt: skip
    run_python(env, "-m", "tests.notifications.killseed", str(PEOPLE))
    assert statuses(database_url) == {("created", ""): PEOPLE}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "notifications_worker"], cwd=ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        # Down: nothing listens; every message fails for now and waits its turn.
        unreachable = ("temporary_failure", "unreachable")
        wait_for(lambda: statuses(database_url).get(unreachable) == PEOPLE, 90, "all refused")
        erroring = True
        with Gateway(port=port, plan=lambda key, nth: 503 if erroring else 200) as gateway:
            # Up but failing: 503 for every message, each retried again later.
            wait_for(lambda: len(set(gateway.attempts)) == PEOPLE, 60, "each got a 503")
            erroring = False
            wait_for(lambda: statuses(database_url) == {("delivered", ""): PEOPLE}, 90, "healed")
    finally:
        worker.terminate()
        assert worker.wait(30) == 0  # a graceful stop

    keys = {
        idempotency_key(pk)
        for (pk,) in query(database_url, "SELECT id FROM notifications_notification")
    }
    assert set(gateway.sent) == keys  # every message reached the gateway…
    assert set(gateway.sent.values()) == {1}  # …once, by its key
    assert min(gateway.attempts.values()) >= 2  # a 503 first, then the delivery
    attempts = query(database_url, "SELECT min(attempts) FROM notifications_notification")[0][0]
    assert attempts >= 3  # refused, 503, delivered: the worker counted them all
    assert_logs_clean(log)
