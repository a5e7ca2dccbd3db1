"""Benchmark: release 100,000 pooled tubes (≈1,000,000 people) on PostgreSQL.

    .venv/bin/python -m bench.lab_release_100k [--tubes 100000] [--pool 10] [--reuse]

Standalone, like `bench/people_import_1m.py` (one long operation, measured once).
In a database of its own (`BENCH_LAB_URL`, default
postgresql://postgres@127.0.0.1:5432/swabline_bench_lab, dropped and created again
each run):

1. migrates, creates a province, ward, campaign, site, lab and a lab supervisor;
2. COPYs `--tubes × --pool` people, then generates in the server the tubes (status
   `resulted`), one active sample per person, and one `entered` result per tube
   (2 % positive, 1 % invalid, the rest negative); loading runs with
   `session_replication_role = replica` (no triggers or foreign-key checks while
   loading), then VACUUM ANALYZE;
3. measures `swabline.results.services.release_results` over every result: results
   released, tubes `resulted → released`, one Outcome per person (pool logic),
   one audit event — the real service, in one transaction;
4. checks the outcome counts (negative / recall / recollect) match the results;
5. the same-run baselines: a raw ``INSERT … SELECT`` of the same rows (same joins,
   same columns) into a copy of `results_outcome` with the same indexes but no
   foreign keys, and into a plain table without indexes.

`--reuse` saves the loading (≈30 s) when trying changes: the first run keeps the
loaded, unreleased database as a template (`<name>_loaded`, same --tubes/--pool);
later runs clone it (`CREATE DATABASE … TEMPLATE … STRATEGY file_copy`) and apply
any new migrations before releasing. Each run releases into a fresh clone, so every
measurement starts from the same data.

Target (issue #5): ≤ 10 s for the release, ratio to the raw INSERT…SELECT reported.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/swabline_bench_lab"
TARGET_SECONDS = 10.0
PROVINCE = "998"

RAW_SELECT = """
SELECT p.province_code, s.person_id, s.campaign_id,
  CASE WHEN r.value = 'negative' THEN 'negative' WHEN r.value = 'positive' THEN 'recall'
       ELSE 'recollect' END,
  s.tube_id, s.id, r.id, %s::bigint, true, now()
FROM labs_tuberesult r
JOIN sampling_sample s ON s.tube_id = r.tube_id AND s.active
JOIN people_person p ON p.id = s.person_id
WHERE r.lab_id = %s
"""
RAW_COLUMNS = (
    "province_code, person_id, campaign_id, state, tube_id, sample_id, result_id,"
    " release_id, current, decided_at"
)


def _admin(url: str, *statements: Any) -> None:
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def template_name(url: str, tubes: int, pool: int) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return f"{conninfo_to_dict(url)['dbname']}_loaded_{tubes}x{pool}"


def template_exists(url: str, template: str) -> bool:
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
        return found.fetchone() is not None


def keep_template(url: str, template: str) -> None:
    """Copy the loaded, unreleased database to `template` (for --reuse)."""
    from django.db import connections
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    name = sql.Identifier(str(conninfo_to_dict(url)["dbname"]))
    target = sql.Identifier(template)
    connections.close_all()  # a template must have no other sessions
    _admin(
        url,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(target),
        sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY file_copy").format(target, name),
    )


def prepare_database(url: str, template: str | None = None) -> None:
    """A fresh database: empty and migrated, or a clone of `template` with any new
    migrations applied."""
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    name = sql.Identifier(str(conninfo_to_dict(url)["dbname"]))
    create = sql.SQL("CREATE DATABASE {}").format(name)
    if template is not None:
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY file_copy").format(
            name, sql.Identifier(template)
        )
    _admin(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name), create)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0", "--skip-checks"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swabline.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def find_world() -> dict[str, Any]:
    """The ids `make_world` created, read back from a reused database."""
    from swabline.accounts.models import User
    from swabline.campaigns.models import Site
    from swabline.labs.models import Lab

    site = Site.objects.get(name="Điểm benchmark")
    return {
        "ward": site.ward_id,
        "campaign": site.campaign_id,
        "site": site.pk,
        "lab": Lab.objects.get(code="LABBENCH").pk,
        "sampler": User.objects.get(username="bench-sampler").pk,
        "supervisor": User.objects.get(username="bench-supervisor").pk,
    }


def value_counts(tubes: int) -> dict[str, int]:
    """How many results of each value `load` generates (t % 50: positive, t % 100 = 1:
    invalid, the rest negative)."""
    counts = {"negative": 0, "positive": 0, "invalid": 0}
    for t in range(1, tubes + 1):
        value = "positive" if t % 50 == 0 else "invalid" if t % 100 == 1 else "negative"
        counts[value] += 1
    return counts


def make_world() -> dict[str, Any]:
    """The places, campaign, site, lab and users, through the ORM."""
    import datetime as dt

    from django.utils import timezone

    from swabline.accounts import services as accounts
    from swabline.accounts.enums import Role
    from swabline.accounts.models import User
    from swabline.campaigns.enums import CampaignStatus, TestType
    from swabline.campaigns.models import Campaign, Site
    from swabline.core.text import fold
    from swabline.labs.models import Lab
    from swabline.places.enums import Level, System
    from swabline.places.models import Place

    province = Place.objects.create(
        system=System.CURRENT, level=Level.PROVINCE, code=PROVINCE, name="Tỉnh Benchmark Lab",
        short_name="Benchmark", kind="Tỉnh", name_folded="tinh benchmark lab", path="",
        province_code=PROVINCE,
    )  # fmt: skip
    province.path = f"/{province.pk}/"
    province.save(update_fields=["path"])
    ward = Place.objects.create(
        system=System.CURRENT, level=Level.WARD, code="99801", name="Phường Benchmark",
        short_name="Benchmark", kind="Phường", name_folded=fold("Phường Benchmark"),
        parent=province, path="", province_code=PROVINCE,
    )  # fmt: skip
    ward.path = f"{province.path}{ward.pk}/"
    ward.save(update_fields=["path"])
    today = timezone.localdate()
    campaign = Campaign.objects.create(
        name="Đợt benchmark", starts_on=today, ends_on=today + dt.timedelta(days=3),
        test_type=TestType.RT_PCR_POOLED, pool_size_limit=10, status=CampaignStatus.ACTIVE,
        province=province,
    )  # fmt: skip
    site = Site.objects.create(campaign=campaign, ward=ward, name="Điểm benchmark", address="1")
    lab = Lab.objects.create(code="LABBENCH", name="Lab benchmark", place=province)
    sampler = User.objects.create(username="bench-sampler")
    supervisor = User.objects.create(username="bench-supervisor")
    accounts.assign(user=supervisor, role=Role.LAB_SUPERVISOR, by=None, lab=lab)
    return {
        "ward": ward.pk,
        "campaign": campaign.pk,
        "site": site.pk,
        "lab": lab.pk,
        "sampler": sampler.pk,
        "supervisor": supervisor.pk,
    }


def _copy(cursor: Any, table: str, columns: str, rows: Any) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(row))
        buffer.write("\n")
    buffer.seek(0)
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def load(url: str, w: dict[str, Any], tubes: int, pool: int) -> dict[str, int]:
    """COPY people, tubes, samples and entered results; returns the value counts."""
    import psycopg

    people = tubes * pool
    now = "2026-11-29 08:00:00+00"
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        started = time.perf_counter()
        _copy(
            cur,
            "people_person",
            "id, province_code, public_id, qr_token, code, full_name, name_folded, birth_year,"
            " sex, phone, address, household_key, is_household_head, source, created_at,"
            " updated_at, ward_id, claimed_national_id",
            (
                (
                    str(i),
                    PROVINCE,
                    f"bench{i:017d}",
                    f"T{i:025d}",
                    f"{i:08d}",
                    f"Nguyễn Văn Thử {i}",
                    f"nguyen van thu {i}",
                    str(1940 + i % 70),
                    "MF"[i % 2],
                    f"+8490{i:07d}",
                    f"{i % 200} Lê Lợi",
                    "",
                    "f",
                    "import",
                    now,
                    now,
                    str(w["ward"]),
                    "",
                )
                for i in range(1, people + 1)
            ),
        )
        # Tubes, samples and results follow from the people by arithmetic: generated
        # in the server (INSERT … SELECT over generate_series), no round trips.
        cur.execute(
            "INSERT INTO sampling_tube (id, province_code, code, campaign_id, site_id, kind,"
            " status, pool_limit, member_count, is_recall, opened_by_id, opened_at,"
            " client_opened_at, closed_at, voided_reason)"
            " SELECT t, %s, '9' || lpad(t::text, 11, '0'), %s, %s, 'pool', 'resulted', %s, %s,"
            " false, %s, %s, %s, %s, '' FROM generate_series(1, %s) t",
            [PROVINCE, w["campaign"], w["site"], pool, pool, w["sampler"], now, now, now, tubes],
        )
        cur.execute(
            "INSERT INTO sampling_sample (id, province_code, tube_id, person_id, campaign_id,"
            " position, kind, active, collected_at, collected_by_id, received_at,"
            " client_event_id)"
            " SELECT i, %s, (i - 1) / %s + 1, i, %s, (i - 1) %% %s + 1, 'normal', true, %s, %s,"
            " %s, md5(i::text)::uuid FROM generate_series(1, %s) i",
            [PROVINCE, pool, w["campaign"], pool, now, w["sampler"], now, people],
        )
        cur.execute(
            "INSERT INTO labs_tuberesult (id, tube_id, lab_id, value, ct_values, method, well,"
            " run_id, source, state, current, entered_by_id, entered_at, amendment_reason,"
            " province_code)"
            " SELECT t, t, %s, CASE WHEN t %% 50 = 0 THEN 'positive' WHEN t %% 100 = 1"
            " THEN 'invalid' ELSE 'negative' END, '{}', '', '', 'run-1', 'upload', 'entered',"
            " true, %s, %s, '', %s FROM generate_series(1, %s) t",
            [w["lab"], w["sampler"], now, PROVINCE, tubes],
        )
        cur.execute("SET session_replication_role = origin")
        for table in ("people_person", "sampling_tube", "sampling_sample", "labs_tuberesult"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        print(f"loaded {people:,} people, {tubes:,} tubes in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        cur.execute("VACUUM ANALYZE")
        print(f"vacuum analyze {time.perf_counter() - started:.1f} s", flush=True)
    return value_counts(tubes)


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) the PostgreSQL backend `pid` has used so far: on a
    shared machine a steadier measure than wall time (excludes waiting for the CPU,
    and the WAL writer's and checkpointer's work). 0 if /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def release(w: dict[str, Any]) -> tuple[float, float, Any]:
    """Runs the real service; answers (wall seconds, backend CPU seconds, Release)."""
    from django.db import connection

    from swabline.accounts.models import User
    from swabline.labs.models import Lab, TubeResult
    from swabline.results.services import release_results

    supervisor = User.objects.get(pk=w["supervisor"])
    lab = Lab.objects.select_related("place").get(pk=w["lab"])
    ids = list(TubeResult.objects.filter(lab=lab).values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = int(cursor.fetchone()[0])

    timings: list[tuple[float, float, str]] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        begun, cpu = time.perf_counter(), backend_cpu(pid)
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - begun
            timings.append((took, backend_cpu(pid) - cpu, " ".join(sql.split())[:80]))

    started, cpu = time.perf_counter(), backend_cpu(pid)
    with connection.execute_wrapper(timed):
        result = release_results(by=supervisor, lab=lab, result_ids=ids, client_id=uuid.uuid4())
    seconds, cpu = time.perf_counter() - started, backend_cpu(pid) - cpu
    print("  wall    backend CPU")
    for took, used, sql in sorted(timings, reverse=True)[:8]:
        print(f"  {took:6.2f} s {used:6.2f} s  {sql}")
    return seconds, cpu, result


def check(counts: dict[str, int], pool: int) -> dict[str, int]:
    from django.db.models import Count

    from swabline.results.models import Outcome

    found = dict(Outcome.objects.filter(current=True).values_list("state").annotate(n=Count("id")))
    expected = {
        "negative": counts["negative"] * pool,
        "recall": counts["positive"] * pool,
        "recollect": counts["invalid"] * pool,
    }
    if found != expected:
        raise SystemExit(f"outcomes {found} != expected {expected}")
    return found


def raw_baselines(
    url: str, w: dict[str, Any], release_id: int
) -> tuple[list[tuple[float, float]], int]:
    """The same rows by a raw INSERT…SELECT: into an index-identical copy of
    results_outcome (no foreign keys), and into a table without indexes. Answers
    (wall, backend CPU) seconds for each, and the number of rows."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        cur.execute("DROP TABLE IF EXISTS bench_raw_outcome, bench_raw_outcome_bare")
        cur.execute("CREATE TABLE bench_raw_outcome (LIKE results_outcome INCLUDING ALL)")
        cur.execute(
            "CREATE TABLE bench_raw_outcome_bare (LIKE results_outcome INCLUDING DEFAULTS INCLUDING IDENTITY)"
        )
        timings = []
        for table in ("bench_raw_outcome", "bench_raw_outcome_bare"):
            started, cpu = time.perf_counter(), backend_cpu(pid)
            cur.execute(
                f"INSERT INTO {table} ({RAW_COLUMNS}) {RAW_SELECT}",
                [release_id, w["lab"]],
            )
            timings.append((time.perf_counter() - started, backend_cpu(pid) - cpu))
            rows = cur.rowcount
        cur.execute("DROP TABLE bench_raw_outcome, bench_raw_outcome_bare")
    return timings, rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tubes", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--url", default=os.environ.get("BENCH_LAB_URL", DEFAULT_URL))
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Clone the loaded data kept by an earlier --reuse run instead of loading.",
    )
    args = parser.parse_args(argv)

    template = template_name(args.url, args.tubes, args.pool)
    reusing = args.reuse and template_exists(args.url, template)
    print(f"preparing database {args.url.rsplit('/', 1)[-1]}", flush=True)
    started = time.perf_counter()
    prepare_database(args.url, template if reusing else None)
    setup_django(args.url)
    if reusing:
        world, counts = find_world(), value_counts(args.tubes)
        print(f"cloned {template} and migrated in {time.perf_counter() - started:.1f} s")
    else:
        world = make_world()
        counts = load(args.url, world, args.tubes, args.pool)
        if args.reuse:
            keep_template(args.url, template)
    load_before = os.getloadavg()
    seconds, cpu, result = release(world)
    load_after = os.getloadavg()
    found = check(counts, args.pool)
    ((raw, raw_cpu), (bare, bare_cpu)), rows = raw_baselines(args.url, world, result.pk)
    report = {
        "tubes": result.tubes,
        "people": result.people,
        "release_seconds": round(seconds, 2),
        "release_backend_cpu_seconds": round(cpu, 2),
        "raw_insert_select_seconds": round(raw, 2),
        "raw_insert_select_backend_cpu_seconds": round(raw_cpu, 2),
        "raw_insert_select_no_indexes_seconds": round(bare, 2),
        "raw_rows": rows,
        "ratio_to_raw": round(seconds / raw, 2),
        "outcomes": found,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "target_seconds": TARGET_SECONDS,
        "met": seconds <= TARGET_SECONDS,
    }
    print(
        f"release: {result.tubes:,} tubes, {result.people:,} people in {seconds:.2f} s"
        f" ({result.people / seconds:,.0f} people/s; backend CPU {cpu:.2f} s);"
        f" target ≤ {TARGET_SECONDS:.0f} s: {'met' if report['met'] else 'MISSED'}"
    )
    print(
        f"raw INSERT…SELECT of the same {rows:,} rows: {raw:.2f} s (CPU {raw_cpu:.2f} s) with the same"
        f" indexes (ratio {seconds / raw:.2f}×), {bare:.2f} s (CPU {bare_cpu:.2f} s) without"
        " indexes"
    )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (2 CPUs)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
