"""Benchmark: what the command center's counting triggers cost the writes they
count, on PostgreSQL (issue #7).

    .venv/bin/python -m bench.dashboard_triggers [--tubes 100000] [--pool 10] [--scans 4000]

Standalone, like `bench/lab_release_100k.py`, whose loader it reuses, in a database
of its own (`BENCH_DASHTRIG_URL`, default
postgresql://postgres@127.0.0.1:5432/swabline_bench_dashtrig, dropped and created
again each run):

1. loads `--tubes` resulted pools of `--pool` people (tubes, samples, entered
   results, set-based) and rebuilds the rollups (timed: the set-based recount);
2. splits the results over four labs and releases each lab's quarter with the real
   `release_results`, the dashboard triggers on for the 1st and 3rd, off (ALTER TABLE
   … DISABLE TRIGGER) for the 2nd and 4th: the difference is the triggers' cost;
3. scans `--scans` people into open tubes with the station's one-call scan
   (`sampling_add_scanned`, decision 0005), in blocks alternating on/off;
4. turns the triggers back on, rebuilds, and checks the counters equal a recount.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from typing import Any

from bench import lab_release_100k as lab

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/swabline_bench_dashtrig"
TABLES = {
    "sampling_tube": "tube",
    "sampling_sample": "sample",
    "labs_tuberesult": "tuberesult",
    "results_outcome": "outcome",
    "people_person": "person",
}


def set_triggers(cursor: Any, on: bool) -> None:
    for table, short in TABLES.items():
        for op in ("insert", "update", "delete"):
            verb = "ENABLE" if on else "DISABLE"
            cursor.execute(f"ALTER TABLE {table} {verb} TRIGGER dashboard_count_{short}_{op}")


def split_labs(w: dict[str, Any]) -> list[tuple[Any, Any]]:
    """Four labs, each with a supervisor and a quarter of the results."""
    from django.db import connection

    from swabline.accounts import services as accounts
    from swabline.accounts.enums import Role
    from swabline.accounts.models import User
    from swabline.labs.models import Lab

    first = Lab.objects.get(pk=w["lab"])
    labs = [(first, User.objects.get(pk=w["supervisor"]))]
    for i in range(1, 4):
        other = Lab.objects.create(code=f"LABDT{i}", name=f"Lab {i}", place=first.place)
        boss = User.objects.create(username=f"bench-dt-supervisor-{i}")
        accounts.assign(user=boss, role=Role.LAB_SUPERVISOR, by=None, lab=other)
        labs.append((other, boss))
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        for i, (other, _) in enumerate(labs[1:], start=1):
            cursor.execute(
                "UPDATE labs_tuberesult SET lab_id = %s WHERE id %% 4 = %s", [other.pk, i]
            )
        cursor.execute("SET session_replication_role = origin")
        cursor.execute("VACUUM ANALYZE labs_tuberesult")
    return labs


def release(lab_obj: Any, boss: Any) -> float:
    from swabline.labs.models import TubeResult
    from swabline.results.services import release_results

    ids = list(TubeResult.objects.filter(lab=lab_obj).values_list("id", flat=True))
    started = time.perf_counter()
    release_results(by=boss, lab=lab_obj, result_ids=ids, client_id=uuid.uuid4())
    return time.perf_counter() - started


def trigger_seconds() -> dict[str, float]:
    """Time spent inside each counting trigger function so far (track_functions),
    the direct measure of their cost, whatever else loads the machine."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(
            "SELECT funcname, total_time FROM pg_stat_user_functions"
            " WHERE funcname LIKE 'dashboard_count_%%'"
        )
        return {name: ms / 1000 for name, ms in cursor.fetchall()}


def scans(url: str, w: dict[str, Any], count: int, pool: int) -> dict[str, list[float]]:
    """`count` one-call scans into fresh open tubes, blocks alternating on/off."""
    import psycopg

    timings: dict[str, list[float]] = {"on": [], "off": [], "on_inside": [], "off_inside": []}
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM people_person")
        base = cur.fetchone()[0]  # type: ignore[index]
        cur.execute(
            "INSERT INTO people_person (id, province_code, public_id, qr_token, code, full_name,"
            " name_folded, birth_year, sex, phone, address, household_key, is_household_head,"
            " source, created_at, updated_at, ward_id, claimed_national_id)"
            " SELECT %s + i, %s, 'scan' || lpad(i::text, 28, '0'), 'S' || lpad(i::text, 25, '0'),"
            " 'S' || lpad(i::text, 7, '0'), 'Người Quét ' || i, 'nguoi quet ' || i, 1980, 'F',"
            " '+8491' || lpad(i::text, 7, '0'), '', '', false, 'import', now(), now(), %s, ''"
            " FROM generate_series(1, %s) i",
            [base, lab.PROVINCE, w["ward"], count],
        )
        cur.execute("SELECT coalesce(max(id), 0) FROM sampling_tube")
        tube_base = cur.fetchone()[0]  # type: ignore[index]
        tubes = count // pool + 1
        cur.execute(
            "INSERT INTO sampling_tube (id, province_code, code, campaign_id, site_id, kind,"
            " status, pool_limit, member_count, is_recall, opened_by_id, opened_at,"
            " client_opened_at, closed_at, voided_reason)"
            " SELECT %s + t, %s, '8' || lpad((%s + t)::text, 11, '0'), %s, %s, 'pool', 'open',"
            " %s, 0, false, %s, now(), now(), NULL, '' FROM generate_series(1, %s) t",
            [
                tube_base,
                lab.PROVINCE,
                tube_base,
                w["campaign"],
                w["site"],
                pool,
                w["sampler"],
                tubes,
            ],
        )
        cur.execute("SET track_functions = 'pl'")

        def inside() -> float:
            cur.execute("SELECT pg_stat_force_next_flush()")
            cur.execute(
                "SELECT coalesce(sum(total_time), 0) FROM pg_stat_user_functions"
                " WHERE funcname LIKE 'dashboard_count_%%'"
            )
            return float(cur.fetchone()[0]) / 1000  # type: ignore[index]

        blocks = 8
        per_block = count // blocks
        for b in range(blocks):
            mode = "on" if b % 2 == 0 else "off"
            set_triggers(cur, mode == "on")
            before = inside()
            for k in range(per_block):
                i = b * per_block + k
                tube = tube_base + 1 + i // pool
                began = time.perf_counter()
                cur.execute(
                    "SELECT sampling_add_scanned(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " now(), now(), '{}'::jsonb)",
                    [uuid.uuid4(), f"8{tube:011d}", w["site"], w["campaign"], lab.PROVINCE,
                     base + 1 + i, "N. Q.", 1980, w["sampler"], "bench", "dev-1"],
                )  # fmt: skip
                took = time.perf_counter() - began
                if cur.fetchone()[0] is None:  # type: ignore[index]
                    raise SystemExit(f"scan {i} was not applied")
                timings[mode].append(took)
            timings[f"{mode}_inside"].append(inside() - before)
        set_triggers(cur, True)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tubes", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--scans", type=int, default=4_000)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DASHTRIG_URL", DEFAULT_URL)
    lab.prepare_database(url)
    lab.setup_django(url)
    w = lab.make_world()
    lab.load(url, w, args.tubes, args.pool)

    from django.db import connection

    from swabline.campaigns.models import Campaign
    from swabline.dashboard.services import differences, rebuild_rollups

    campaign = Campaign.objects.get(pk=w["campaign"])
    started = time.perf_counter()
    rebuild_rollups(campaign)
    rebuild = time.perf_counter() - started
    print(f"rebuild_rollups over {args.tubes * args.pool:,} samples: {rebuild:.1f} s", flush=True)

    labs = split_labs(w)
    with connection.cursor() as cursor:
        cursor.execute("SET track_functions = 'pl'")
    releases: dict[str, list[float]] = {"on": [], "off": []}
    inside: list[float] = []
    for i, (lab_obj, boss) in enumerate(labs):
        mode = "on" if i % 2 == 0 else "off"
        with connection.cursor() as cursor:
            set_triggers(cursor, mode == "on")
        before = sum(trigger_seconds().values())
        seconds = release(lab_obj, boss)
        spent = sum(trigger_seconds().values()) - before
        releases[mode].append(seconds)
        if mode == "on":
            inside.append(spent)
        print(
            f"release of {args.tubes // 4:,} tubes, triggers {mode}: {seconds:.2f} s"
            f" (of which in the counting triggers {spent:.2f} s)",
            flush=True,
        )
    with connection.cursor() as cursor:
        set_triggers(cursor, True)

    timed = scans(url, w, args.scans, args.pool)
    per_scan = {
        mode: {
            "mean_ms": round(1000 * statistics.fmean(ts), 3),
            "p50_ms": round(1000 * statistics.median(ts), 3),
            "p95_ms": round(1000 * sorted(ts)[int(0.95 * len(ts)) - 1], 3),
            "n": len(ts),
        }
        for mode, ts in timed.items()
        if mode in ("on", "off")
    }
    per_scan["on"]["inside_triggers_ms"] = round(
        1000 * sum(timed["on_inside"]) / len(timed["on"]), 3
    )
    rebuild_rollups(campaign)
    wrong = differences(campaign)
    on, off = sum(releases["on"]), sum(releases["off"])
    report = {
        "tubes": args.tubes,
        "people": args.tubes * args.pool,
        "rebuild_seconds": round(rebuild, 2),
        "release_seconds_on": [round(s, 2) for s in releases["on"]],
        "release_seconds_off": [round(s, 2) for s in releases["off"]],
        "release_overhead_percent": round(100 * (on - off) / off, 1),
        "release_seconds_inside_triggers": [round(s, 3) for s in inside],
        "release_trigger_share_percent": round(100 * sum(inside) / on, 1),
        "scan": per_scan,
        "scan_overhead_ms": round(per_scan["on"]["mean_ms"] - per_scan["off"]["mean_ms"], 3),
        "counters_equal_recount": not wrong,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=2), flush=True)
    if wrong:
        raise SystemExit(f"counters differ from a recount: {wrong[:5]}")


if __name__ == "__main__":
    main()
