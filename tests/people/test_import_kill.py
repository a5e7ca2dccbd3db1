"""A worker killed with SIGKILL in the middle of an import leaves nothing; a retry
finishes it (PostgreSQL: the worker runs in another process on the test database)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from swabline.people import importing
from swabline.people.models import ImportStatus, PeopleImport, Person
from tests.faults.procs import assert_logs_clean
from tests.people.test_import import HEADER, csv_bytes, upload

ROOT = Path(__file__).resolve().parents[2]
ROWS = 60_000


def _letters(n: int) -> str:
    word = ""
    for _ in range(4):
        n, r = divmod(n, 26)
        word += "abcdefghijklmnopqrstuvwxyz"[r]
    return word


def _rows() -> list[list[str]]:
    return [
        [
            f"Nguyễn Văn {_letters(i)}",
            "15/08/1975",
            "Nam",
            f"09{i:08d}",
            "",
            "1 Lê Lợi",
            str(i // 4),
            "",
        ]
        for i in range(ROWS)
    ]


def _worker(settings, log: Path) -> subprocess.Popen[bytes]:
    db = connection.settings_dict
    url = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PEOPLE_IMPORT_DIR": str(settings.PEOPLE_IMPORT_DIR),
        "LOG_LEVEL": "INFO",
    }
    env.pop("TEST_DATABASE_NAME", None)
    out = log.open("ab")  # the worker's log, scanned for personal data at the end
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay", "--no-reload"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_import_leaves_nothing_and_a_retry_finishes(world, tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the worker must reach the test database from another process: PostgreSQL leg")
    (ROOT / "swabline").exists()
    settings.PEOPLE_IMPORT_STALE_SECONDS = 0
    imp = upload(world, tmp_path, csv_bytes([HEADER, *_rows()]), name="big.csv")
    preview = importing.validate_import(imp)
    assert preview.rows_valid == ROWS, preview.errors[:2]
    importing.queue_import(imp=imp, by=world.users["dataentry_a"])

    log = tmp_path / "worker.log"
    worker = _worker(settings, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        imp.refresh_from_db()
        if imp.status == ImportStatus.IMPORTING:
            time.sleep(1.5)  # well inside the commit, which takes several seconds
            break
        time.sleep(0.05)
    else:
        worker.kill()
        pytest.fail(
            f"the worker never started writing ({imp.status}, {imp.phase}, {imp.progress_done})"
        )
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)

    imp.refresh_from_db()
    assert imp.status == ImportStatus.IMPORTING, "the kill came too late to test anything"
    assert Person.objects.count() == 0  # one transaction: nothing of a killed import

    importing.queue_import(imp=imp, by=world.users["dataentry_a"])
    retry = _worker(settings, log)
    assert retry.wait(timeout=180) == 0
    imp = PeopleImport.objects.get(pk=imp.pk)
    assert imp.status == ImportStatus.DONE
    assert Person.objects.count() == ROWS
    assert imp.people_created == ROWS
    assert_logs_clean(log)
