"""The campaign day for `make soak`, run by locust in its own process (never
imported by Django or the tests). Reads SOAK_DATA (soak.seed's JSON), SOAK_MINUTES,
SOAK_RUN and the rate targets; soak/__main__.py sets them.

Every user runs from start to end and acts in its phase only (fractions of the run;
the runner releases the lab's results at 0.60):
  0.00-0.60  stations: online scans, one event per request, a quick registration
             for every tenth person (and whenever the seeded people run out);
  0.30-0.60  the lab: results for the received tubes, 10 tubes per request;
  0.65-1.00  the look-up spike after the release, a quarter of the stations scanning.
Any answer that is not what the station, lab or citizen needs is a failure.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import time
import uuid
from typing import Any

from locust import FastHttpUser, constant_throughput, task

with open(os.environ["SOAK_DATA"], encoding="utf-8") as _data:
    DATA: dict[str, Any] = json.load(_data)
MINUTES = float(os.environ.get("SOAK_MINUTES", "10"))
RUN = os.environ.get("SOAK_RUN", "R")
STATION_USERS = int(os.environ.get("SOAK_STATION_USERS", "8"))
LOOKUP_USERS = int(os.environ.get("SOAK_LOOKUP_USERS", "8"))
SCAN_RATE = float(os.environ.get("SOAK_SCAN_RATE", "2000"))  # 2 × issue #4's 1,000/s
LOOKUP_RATE = float(os.environ.get("SOAK_LOOKUP_RATE", "3000"))  # 2 × issue #6's 1,500/s
LAB_RATE = float(os.environ.get("SOAK_LAB_RATE", "5"))  # requests of 10 tubes per second
POOL = 10
SYLLABLES = ("An Bình Cúc Dung Giang Hà Hạnh Khánh Lan Linh Minh Nga Ngọc Nhung Oanh Phúc "
             "Quân Quế Sơn Tâm Thảo Thu Trang Tú Uyên Vân Việt Xuân Yến Đào").split()  # fmt: skip

LAB_FROM, RELEASE, SPIKE = 0.3, 0.6, 0.65  # soak/__main__.py releases at RELEASE
STARTED = time.monotonic()  # locust imports this file as the run starts

_scans = iter(DATA["scans"])
_stations = itertools.count()
_lab_tubes = iter(DATA["lab_tubes"])


def phase() -> float:
    """How far into the run we are, 0 to 1."""
    return (time.monotonic() - STARTED) / (MINUTES * 60)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Station(FastHttpUser):
    """One phone at site A, online: every scan is its own request."""

    wait_time = constant_throughput(SCAN_RATE / STATION_USERS)
    fixed_count = STATION_USERS

    def on_start(self) -> None:
        self.number = next(_stations)
        self.tubes = itertools.count()
        self.tube = ""
        self.count = 0
        self.seq = 0
        self.auth = {"Authorization": f"Bearer {DATA['station_token']}"}

    def events(self, name: str, event: dict[str, Any]) -> dict[str, Any] | None:
        self.seq += 1
        event = {"id": str(uuid.uuid4()), "at": _now(), "tube": self.tube, "seq": self.seq,
                 **event}  # fmt: skip
        body = {"device_id": f"soak-{self.number}", "site": DATA["site"], "events": [event]}
        with self.client.post("/api/v1/station/events", json=body, headers=self.auth,
                              name=name, catch_response=True) as answer:  # fmt: skip
            if answer.status_code != 200:
                answer.failure(f"status {answer.status_code}")
                return None
            [result] = answer.json()["results"]
            if result["fate"] != "applied":
                answer.failure(f"{result['fate']} {result['reason']}")
                return None
            return result

    def register(self) -> str | None:
        # Five syllables (24 million names) and a date of birth drawn apart: two
        # walk-ins never match one person (who would then be "already sampled").
        n = random.getrandbits(64)
        name = " ".join(SYLLABLES[n // 30**k % 30] for k in range(5))
        n >>= 32
        body = {
            "id": str(uuid.uuid4()), "site": DATA["site"], "device_id": f"soak-{self.number}",
            "full_name": f"Khách {name}", "birth": f"{1 + n % 28:02d}/{1 + n % 12:02d}/{1940 + n % 60}",
            "sex": "M",
        }  # fmt: skip
        with self.client.post("/api/v1/station/people", json=body, headers=self.auth,
                              name="station: quick registration", catch_response=True) as answer:  # fmt: skip
            if answer.status_code != 200:
                answer.failure(f"status {answer.status_code}")
                return None
            return str(answer.json()["qr_payload"])

    @task
    def scan(self) -> None:
        if phase() >= SPIKE and self.number % 4:
            time.sleep(0.5)  # during the spike a quarter of the stations still scan
            return
        if self.count == 0:
            self.tube = f"SOAK-{RUN}-{self.number:03d}{next(self.tubes):06d}"
            if self.events("station: open tube", {"type": "open_tube"}) is None:
                return
        scan = next(_scans, None) if self.count % POOL != 9 else None
        scan = scan or self.register()
        if scan is None:
            return
        if self.events("station: scan", {"type": "add_person", "scan": scan}) is not None:
            self.count = (self.count + 1) % POOL


class Lab(FastHttpUser):
    """The lab technician's machine posting a PCR run's results, 10 tubes a request."""

    wait_time = constant_throughput(LAB_RATE)
    fixed_count = 1

    @task
    def results(self) -> None:
        if not LAB_FROM <= phase() < RELEASE:
            time.sleep(0.5)
            return
        tubes = list(itertools.islice(_lab_tubes, 10))
        if not tubes:
            return  # the run is entered
        body = {"results": [{"client_id": str(uuid.uuid4()), "tube": t, "value": "negative"}
                            for t in tubes]}  # fmt: skip
        with self.client.post(f"/api/v1/labs/{DATA['lab']}/results", json=body,
                              headers={"Authorization": f"Bearer {DATA['lab_token']}"},
                              name="lab: results (10 tubes)", catch_response=True) as answer:  # fmt: skip
            if answer.status_code != 200 or not answer.json()["applied"]:
                answer.failure(f"status {answer.status_code}")


class Citizen(FastHttpUser):
    """Someone looking their result up by personal code and date of birth."""

    wait_time = constant_throughput(LOOKUP_RATE / LOOKUP_USERS)
    fixed_count = LOOKUP_USERS

    @task
    def lookup(self) -> None:
        if phase() < SPIKE:
            time.sleep(0.5)
            return
        who = random.choice(DATA["lookups"])
        with self.client.post("/api/v1/lookup", json=who, name="citizen: look-up",
                              catch_response=True) as answer:  # fmt: skip
            if answer.status_code != 200 or not answer.json()["found"]:
                answer.failure(f"status {answer.status_code}")
