"""Station clients for the fault tests: threads that play a sampling station's day
against a real server over HTTP and retry every request that got no answer (cut,
refused, 5xx) with the same ids, as the station app's outbox does."""

from __future__ import annotations

import datetime as dt
import http.client
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.faults.procs import post_json, query

POOL = 10
TRANSIENT = {"retry", "tube_unknown"}
NAMES = ["An", "Bình", "Cúc", "Dung", "Giang", "Hà", "Khánh", "Lan", "Minh", "Ngọc"]


@dataclass
class Tally:
    """What the clients saw: answers, retries, and requests cut while in flight."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: int = 0
    cut: int = 0  # connection reset or closed with the request sent: mid-request
    refused: int = 0  # nobody listening (server down)
    server_errors: Counter[int] = field(default_factory=Counter)
    fates: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, what: str, status: int = 0) -> None:
        with self.lock:
            if what == "answered":
                self.answered += 1
            elif what == "cut":
                self.cut += 1
            elif what == "refused":
                self.refused += 1
            else:
                self.server_errors[status] += 1


def send(port: int, path: str, body: dict[str, Any], token: str, tally: Tally,
         deadline: float) -> Any:  # fmt: skip
    """POST until the server answers 2xx/4xx; the same body (same ids) every time."""
    while True:
        try:
            status, answer = post_json(port, path, body, token)
        except ConnectionRefusedError:
            tally.add("refused")
        except (OSError, http.client.HTTPException):
            tally.add("cut")
        else:
            if status < 500:
                tally.add("answered")
                if status != 200:
                    raise AssertionError(f"{path} answered {status}: {answer}")
                return answer
            tally.add("server_error", status)
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: no answer before the deadline")
        time.sleep(0.2)


def person_body(site: str, station: int, index: int) -> dict[str, Any]:
    n = station * POOL + index
    return {
        "id": str(uuid.uuid4()),
        "site": site,
        "device_id": f"faults-{station}",
        "full_name": f"Khách {NAMES[station % 10]} {NAMES[index % 10]} Thử",
        "birth": f"{1 + n % 28:02d}/{1 + n % 12:02d}/{1950 + n % 50}",
        "sex": "F" if n % 2 else "M",
    }


def event(kind: str, tube: str, seq: int, **fields: Any) -> dict[str, Any]:
    at = dt.datetime.now(dt.UTC).isoformat()
    return {"id": str(uuid.uuid4()), "type": kind, "at": at, "tube": tube, "seq": seq, **fields}


def walk_in_station(port: int, seed: dict[str, Any], station: int, tally: Tally,
                    deadline: float) -> None:  # fmt: skip
    """One station, online: open a tube, then per person a quick registration and
    the scan of the QR it answered, one request each; the tenth closes the tube."""
    site, token, tube = seed["site"], seed["token"], seed["labels"][station]

    def events(*items: dict[str, Any]) -> None:
        post_events(port, seed, station, list(items), tally, deadline)

    try:
        events(event("open_tube", tube, 0))
        for index in range(POOL):
            person = send(port, "/api/v1/station/people", person_body(site, station, index),
                          token, tally, deadline)  # fmt: skip
            events(event("add_person", tube, index + 1, scan=person["qr_payload"]))
    except AssertionError as exc:
        with tally.lock:
            tally.failures.append(str(exc))


def post_events(port: int, seed: dict[str, Any], station: int, items: list[dict[str, Any]],
                tally: Tally, deadline: float) -> None:  # fmt: skip
    """Send a batch until answered, then again the events answered with a transient
    conflict (`retry`, `tube_unknown`: not recorded, the API says to resend them), as
    the station app does. Every event's first fate must be "applied"."""
    while items:
        body = {"device_id": f"faults-{station}", "site": seed["site"], "events": items}
        answer = send(port, "/api/v1/station/events", body, seed["token"], tally, deadline)
        again = {r["id"] for r in answer["results"] if r["reason"] in TRANSIENT}
        for r in answer["results"]:
            first = r["first_fate"] or r["fate"]
            with tally.lock:
                tally.fates[r["reason"] if r["id"] in again else r["fate"]] += 1
                if first != "applied" and r["id"] not in again:
                    tally.failures.append(f"{r['fate']} {r['reason']} {r['first_reason']}")
        items = [item for item in items if item["id"] in again]
        if items:
            if time.monotonic() > deadline:
                raise AssertionError("events still transient at the deadline")
            time.sleep(0.2)


def offline_station(port: int, seed: dict[str, Any], station: int, tubes: int, batch: int,
                    tally: Tally, deadline: float) -> None:  # fmt: skip
    """One station back online: its outbox (`tubes` tubes of POOL people scanned from
    the seeded QR codes) synced in batches of `batch` events, in order."""
    outbox: list[dict[str, Any]] = []
    for t in range(tubes):
        tube = seed["labels"][station * tubes + t]
        outbox.append(event("open_tube", tube, len(outbox)))
        for p in range(POOL):
            scan = seed["scans"][(station * tubes + t) * POOL + p]
            outbox.append(event("add_person", tube, len(outbox), scan=scan))
    try:
        for start in range(0, len(outbox), batch):
            post_events(port, seed, station, outbox[start : start + batch], tally, deadline)
    except AssertionError as exc:
        with tally.lock:
            tally.failures.append(str(exc))


def counts(url: str) -> dict[str, int]:
    """(Full tubes: POOL members.) What the database holds after the day: each should be exactly one per act."""
    one = lambda sql: query(url, sql)[0][0]  # noqa: E731
    return {
        "people": one("SELECT count(*) FROM people_person"),
        "registrations": one(
            "SELECT count(*) FROM sampling_stationevent WHERE type = 'register_person'"
        ),
        "samples": one("SELECT count(*) FROM sampling_sample WHERE removed_at IS NULL"),
        "people sampled": one(
            "SELECT count(DISTINCT person_id) FROM sampling_sample WHERE removed_at IS NULL"
        ),
        "full tubes": one("SELECT count(*) FROM sampling_tube WHERE member_count = 10"),
        "tubes": one("SELECT count(*) FROM sampling_tube"),
    }
