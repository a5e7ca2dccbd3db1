"""kill -9 of the web process in the middle of requests (issue #8, faults).

granian serves swabline (a worker of four threads) against a database of the test's own. Six
stations register people and scan them into tubes, one request per act, as phones
online do. Once a third of the requests are answered the whole granian process
group is SIGKILLed: requests in flight are cut, the stations get no answer and keep
retrying the same bodies (same registration id, same event id). A new granian comes
up on the same port and the stations finish. Then the database holds every person
once and every sample once: nothing lost, nothing doubled.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.faults.procs import WEB_PORTS, Web, assert_logs_clean, child_env, free_port, run_python
from tests.faults.stations import POOL, Tally, counts, walk_in_station

pytestmark = pytest.mark.faults

STATIONS = 6


def test_kill_9_mid_request_loses_nothing_and_doubles_nothing(database_url: str, tmp_path: Path):
    env = child_env(database_url, REGISTRATION_RATE_LIMIT="10000")
    seed = json.loads(run_python(env, "-m", "tests.faults.seed", str(STATIONS), "0"))
    port = free_port(WEB_PORTS)
    log = tmp_path / "granian.log"
    started = time.monotonic()
    web = Web(env, port, log).start()
    print(f"granian up in {time.monotonic() - started:.1f} s")
    tally = Tally()
    deadline = time.monotonic() + 120
    stations = [
        threading.Thread(target=walk_in_station, args=(port, seed, n, tally, deadline))
        for n in range(STATIONS)
    ]
    try:
        for station in stations:
            station.start()
        # 6 stations × (open + 10 × (register + scan)) = 126 requests
        while tally.answered < 40:
            time.sleep(0.005)
        web.kill9()
        killed_after = tally.answered
        time.sleep(1.0)  # down a while: the stations' retries are refused
        web = Web(env, port, log).start()
        for station in stations:
            station.join(130)
    finally:
        web.stop()

    assert tally.failures == []
    assert tally.cut > 0, "the kill should have cut requests in flight"
    assert killed_after < STATIONS * (1 + 2 * POOL)
    people = STATIONS * POOL
    assert counts(database_url) == {
        "people": people,
        "registrations": people,
        "samples": people,
        "people sampled": people,
        "full tubes": STATIONS,
        "tubes": STATIONS,
    }
    # Every event's first fate was "applied"; a replay of one the dead server had
    # already committed answers "duplicate" and changes nothing.
    assert set(tally.fates) <= {"applied", "duplicate", "retry", "tube_unknown"}
    assert tally.fates["applied"] + tally.fates["duplicate"] == STATIONS * (1 + POOL)
    print(f"killed after {killed_after} answers; cut {tally.cut}, refused {tally.refused}, "
          f"5xx {dict(tally.server_errors)}, fates {dict(tally.fates)}")  # fmt: skip
    assert_logs_clean(log)
