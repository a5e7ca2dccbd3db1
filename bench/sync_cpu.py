"""CPU per batch of the station's offline sync (issue #4), in-process on PostgreSQL.

    DATABASE_URL=postgresql://…/swabline_bench_h2 DJANGO_SETTINGS_MODULE=bench.settings \
        .venv/bin/python -m bench.sync_cpu [--batches 40] [--profile out.prof]

The same world and batches as the `station-sync-batch` case (500 events: 50 tubes
opened and 450 QR scans, shuffled) in a new campaign, applied one after another
with `services.apply_events` on one connection. It prints one JSON line: the
Python process's CPU (`time.process_time`) and the PostgreSQL backend's (utime +
stime from /proc/<pid>/stat, so the server must run on this machine) per batch,
and events per CPU-second. CPU time, unlike a rate, holds still while other work
shares the machine: run it turn about against another checkout to compare code.
The database must be migrated and hold the case's people (a `python -m bench` run
of the case makes them).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import secrets
import time
from typing import Any

from swabline.core.ids import uuid7

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    """Seconds of CPU the backend process `pid` has used (user + system)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.db import connection
    from django.utils import timezone

    from bench.cases import station
    from swabline.campaigns.models import Site
    from swabline.sampling import services
    from swabline.sampling.sync import EventIn

    token = secrets.token_hex(4)
    world = station._world(token, "cpu")
    per_batch = station.BATCH_TUBES * (station.BATCH_PER_TUBE - 1)
    total = args.warmup + args.batches
    people = station._people(world["ward"], per_batch * total)
    site = Site.objects.select_related("campaign", "ward").get(pk=world["site"].pk)
    user = world["user"]
    rng = random.Random(4)

    def batch(seq: int) -> list[Any]:
        now = timezone.now()
        events: list[Any] = []
        scans = iter(people[seq * per_batch :])
        for t in range(station.BATCH_TUBES):
            code = f"BENCH-{token.upper()}-9-{seq * station.BATCH_TUBES + t}"
            events.append(EventIn(uuid7(), "open_tube", now, tube=code, seq=len(events)))
            for _ in range(station.BATCH_PER_TUBE - 1):
                _, scan = next(scans)
                events.append(
                    EventIn(uuid7(), "add_person", now, tube=code, scan=scan, seq=len(events))
                )
        rng.shuffle(events)
        return events

    def apply(events: list[Any]) -> int:
        results = services.apply_events(by=user, site=site, device_id="cpu-0", events=events)
        return sum(1 for r in results if r.fate == "applied")

    for seq in range(args.warmup):
        apply(batch(seq))
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    batches = [batch(seq) for seq in range(args.warmup, total)]
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    applied = 0
    wall, python, server = time.perf_counter(), time.process_time(), backend_cpu(pid)
    if profiler:
        profiler.enable()
    for events in batches:
        applied += apply(events)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    wall = time.perf_counter() - wall
    python = time.process_time() - python
    server = backend_cpu(pid) - server
    print(
        json.dumps(
            {
                "batches": args.batches,
                "applied": applied,
                "python_ms_per_batch": round(1000 * python / args.batches, 2),
                "server_ms_per_batch": round(1000 * server / args.batches, 2),
                "events_per_cpu_second": round(applied / (python + server)),
                "wall_events_per_second": round(applied / wall),
            }
        )
    )


if __name__ == "__main__":
    main()
