"""PostgreSQL restarted during a station sync (issue #8, faults).

A PostgreSQL cluster of the test's own (initdb in a temporary folder, a port of the
faults range; the shared server is never touched) holds a migrated, seeded
database; granian serves swabline against it. Six stations come back online and
sync their outboxes (4 tubes × 11 events each) in batches of 4 events. After a few
batches the cluster is stopped the hard way (`pg_ctl stop -m immediate`: no
shutdown checkpoint, connections dropped) and started again a second later. The
stations retry every batch that got no answer or a 5xx, with the same event ids.
Afterwards every sample is there once: nothing lost, nothing doubled.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.faults.conftest import on_postgres
from tests.faults.procs import (
    WEB_PORTS,
    Web,
    assert_logs_clean,
    child_env,
    cluster,
    free_port,
    run_python,
)
from tests.faults.stations import POOL, Tally, counts, offline_station

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        not on_postgres(), reason="a PostgreSQL fault: runs once, in the PostgreSQL leg"
    ),
]

STATIONS = 6
TUBES = 4
BATCH = 4


def test_restart_during_sync_loses_nothing_and_doubles_nothing(template_url: str, tmp_path: Path):
    # Not under tmp_path: the cluster runs as the postgres user, who cannot enter
    # pytest's private temporary folders.
    with cluster(Path(tempfile.mkdtemp(prefix="swabline-faults-pg-"))) as pg:
        env = child_env(pg.url)
        began = time.monotonic()
        pg.load(template_url)  # the session's migrated database
        tubes = STATIONS * TUBES
        seed = json.loads(run_python(env, "-m", "tests.faults.seed", str(tubes), str(tubes * POOL)))
        port = free_port(WEB_PORTS)
        log = tmp_path / "granian.log"
        ready = time.monotonic()
        web = Web(env, port, log).start()
        print(f"migrated and seeded in {ready - began:.1f} s, granian up in "
              f"{time.monotonic() - ready:.1f} s")  # fmt: skip
        tally = Tally()
        deadline = time.monotonic() + 120
        stations = [
            threading.Thread(
                target=offline_station, args=(port, seed, n, TUBES, BATCH, tally, deadline)
            )
            for n in range(STATIONS)
        ]
        try:
            for station in stations:
                station.start()
            while tally.answered < 8:
                time.sleep(0.005)
            pg.stop("immediate")
            restarted_after = tally.answered
            time.sleep(1.0)
            pg.start()
            for station in stations:
                station.join(130)
        finally:
            web.stop()
        held = counts(pg.url)

    print(f"restarted after {restarted_after} answers; cut {tally.cut}, 5xx "
          f"{dict(tally.server_errors)}, fates {dict(tally.fates)}")  # fmt: skip
    assert tally.failures == []
    batches = STATIONS * TUBES * (1 + POOL) // BATCH
    assert restarted_after < batches
    felt = sum(tally.server_errors.values()) + tally.cut + tally.fates["retry"]
    assert felt > 0, "the restart should be felt by the stations"
    samples = STATIONS * TUBES * POOL
    assert held == {
        "people": samples,
        "registrations": 0,
        "samples": samples,
        "people sampled": samples,
        "full tubes": STATIONS * TUBES,
        "tubes": STATIONS * TUBES,
    }
    assert set(tally.fates) <= {"applied", "duplicate", "retry", "tube_unknown"}
    final = tally.fates["applied"] + tally.fates["duplicate"]
    assert final == STATIONS * TUBES * (1 + POOL)
    assert_logs_clean(log)
