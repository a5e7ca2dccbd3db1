"""Benchmark: upload a 100,000-row PCR results file on PostgreSQL, against raw COPY.

    .venv/bin/python -m bench.lab_upload_100k [--rows 100000]

Standalone (one long operation, measured once). In a database of its own
(`BENCH_LABUPLOAD_URL`, default
postgresql://postgres@127.0.0.1:5432/swabline_bench_labupload, dropped and created
again each run):

1. seeds a lab and `--rows` tubes received there (set-based SQL, not timed);
2. writes a CSV as a PCR export would (well, sample name, Ct E, Ct N, result, run),
   ~2 % positive, ~1 % invalid;
3. times the service path a technician's upload takes: store + checksum
   (`create_upload`), read + header + mapping (`prepare`), the check
   (`validate_upload`), and the apply (`apply_upload`: reads and checks again, then
   INSERT…SELECT of the results and UPDATE of the tubes, in one transaction);
4. uploads the same file again (0 new results, everything unchanged);
5. COPYs the same rows, as text, into a plain table without indexes: the floor.

Target (issue #5): ≤ 10 s for the upload of 100,000 rows.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/swabline_bench_labupload"
TARGET_SECONDS = 10.0
HEADER = ["Well", "Sample Name", "Ct E", "Ct N", "Result", "Run ID"]


def prepare_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = str(conninfo_to_dict(url)["dbname"])
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
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


def seed(rows: int) -> tuple[Any, Any, list[str]]:
    """A province, a site, a lab, a technician and `rows` tubes received at the lab."""
    from django.db import connection
    from django.utils import timezone

    from swabline.accounts import services as accounts
    from swabline.accounts.enums import Role
    from swabline.accounts.models import User
    from swabline.campaigns.models import Campaign, Site
    from swabline.labs.models import Lab
    from swabline.places.enums import Level, System
    from swabline.places.models import Place
    from swabline.shipping.models import Shipment

    province = Place.objects.create(
        system=System.CURRENT, level=Level.PROVINCE, code="998", name="Tỉnh Benchmark",
        short_name="Benchmark", kind="Tỉnh", name_folded="tinh benchmark", path="",
        province_code="998",
    )  # fmt: skip
    province.path = f"/{province.pk}/"
    province.save(update_fields=["path"])
    ward = Place.objects.create(
        system=System.CURRENT, level=Level.WARD, code="99801", name="Phường Benchmark",
        short_name="Benchmark", kind="Phường", name_folded="phuong benchmark", parent=province,
        path="", province_code="998",
    )  # fmt: skip
    ward.path = f"{province.path}{ward.pk}/"
    ward.save(update_fields=["path"])
    today = timezone.localdate()
    campaign = Campaign.objects.create(
        name="Đợt benchmark", province=province, starts_on=today, ends_on=today, pool_size_limit=10
    )
    site = Site.objects.create(campaign=campaign, ward=ward, name="Điểm benchmark", address="1")
    lab = Lab.objects.create(code="BENCH", name="Lab benchmark", place=province)
    tech = User.objects.create_user(username="bench-labtech", password="x")  # noqa: S106
    courier = User.objects.create_user(username="bench-courier", password="x")  # noqa: S106
    accounts.assign(user=tech, role=Role.LAB_TECHNICIAN, by=None, lab=lab)
    now = timezone.now()
    shipment = Shipment.objects.create(
        campaign=campaign, site=site, lab=lab, status="received", created_by=courier,
        handed_over_at=now, received_at=now,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sampling_tube (province_code, code, campaign_id, site_id, kind, status,
                pool_limit, member_count, is_recall, opened_by_id, opened_at, client_opened_at,
                voided_reason)
            SELECT '998', (800000000000 + g)::text, %s, %s, 'pool', 'open', 10, 0, false, %s,
                   now(), now(), ''
            FROM generate_series(1, %s) g
            """,
            [campaign.pk, site.pk, courier.pk, rows],
        )
        for status in ("closed", "shipped", "received"):
            cursor.execute("UPDATE sampling_tube SET status = %s WHERE campaign_id = %s",
                           [status, campaign.pk])  # fmt: skip
        cursor.execute(
            """
            INSERT INTO shipping_shipmenttube (shipment_id, tube_id, active, added_at,
                added_by_id, scanned_at, received_at, province_code)
            SELECT %s, id, true, now(), %s, now(), now(), province_code
            FROM sampling_tube WHERE campaign_id = %s
            """,
            [shipment.pk, courier.pk, campaign.pk],
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT code FROM sampling_tube WHERE campaign_id = %s ORDER BY id",
                       [campaign.pk])  # fmt: skip
        codes = [row[0] for row in cursor.fetchall()]
    return lab, tech, codes


def write_csv(path: Path, codes: list[str]) -> None:
    rng = random.Random(2021)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index, code in enumerate(codes):
            roll = rng.random()
            well = f"{'ABCDEFGH'[index % 96 // 12]}{index % 12 + 1}"
            run = f"RUN-{index // 96:05d}"
            if roll < 0.02:
                row = [well, code, f"{rng.uniform(15, 35):.2f}", f"{rng.uniform(15, 35):.2f}",
                       "Positive", run]  # fmt: skip
            elif roll < 0.03:
                row = [well, code, "", "", "Invalid", run]
            else:
                row = [well, code, "Undetermined", "Undetermined", "Not detected", run]
            writer.writerow(row)


def timed(label: str, results: dict[str, float], fn: Any, *args: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    results[label] = time.perf_counter() - started
    return value


class StatementTimes:
    """Wall time per statement kind during the apply (a Django execute wrapper)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            words = sql.split()
            kind = " ".join(words[:3]) if words else "?"
            self.seconds[kind] = self.seconds.get(kind, 0.0) + time.perf_counter() - started

    def top(self, count: int = 4) -> str:
        ranked = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:count]
        return ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in ranked)


def upload_once(lab: Any, tech: Any, path: Path) -> tuple[dict[str, float], Any]:
    from django.db import connection

    from swabline.labs import uploads

    steps: dict[str, float] = {}
    up = timed("store", steps, uploads.create_upload, by=tech, lab=lab, file=path,
               file_name=path.name)  # fmt: skip
    prepared = timed("read", steps, uploads.prepare, up)
    timed("check", steps, uploads.validate_upload, by=tech, upload=up, mapping=prepared.mapping,
          prepared=prepared)  # fmt: skip
    times = StatementTimes()
    with connection.execute_wrapper(times):
        timed("apply", steps, uploads.apply_upload, by=tech, upload=up, mapping=prepared.mapping)
    print(f"  apply's slowest statements: {times.top()}")
    up.refresh_from_db()
    return steps, up


def raw_tube_update(url: str) -> float:
    """The state machine's own write, alone: the same 100k tubes' status in one UPDATE
    (rolled back). An upload must do it too (`received → resulted`)."""
    import psycopg

    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        conn.execute("UPDATE sampling_tube SET status = 'released' WHERE status = 'resulted'")
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds


def raw_copy(url: str, path: Path) -> float:
    """The floor: the same rows as text COPYed into a plain table without indexes."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_results")
        conn.execute(
            "CREATE TABLE bench_raw_results (well text, tube text, ct_e text, ct_n text, "
            "result text, run text)"
        )
        started = time.perf_counter()
        with (
            path.open(encoding="utf-8", newline="") as handle,
            conn.cursor() as cursor,
            cursor.copy("COPY bench_raw_results FROM STDIN") as copy,
        ):
            reader = csv.reader(handle)
            next(reader)
            for row in reader:
                copy.write_row(row)
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw_results")
    return seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--url", default=os.environ.get("BENCH_LABUPLOAD_URL", DEFAULT_URL))
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()}")
    prepare_database(args.url)
    work = Path(tempfile.mkdtemp(prefix="swabline-labupload-"))
    os.environ["PEOPLE_IMPORT_DIR"] = str(work / "uploads")
    setup_django(args.url)
    from django.conf import settings

    settings.PEOPLE_IMPORT_DIR = str(work / "uploads")
    lab, tech, codes = seed(args.rows)
    path = work / "pcr-run.csv"
    write_csv(path, codes)
    print(f"{args.rows:,} rows, {path.stat().st_size / 2**20:.1f} MB CSV")

    first, up = upload_once(lab, tech, path)
    total = sum(first.values())
    print(
        "upload:   "
        + ", ".join(f"{k} {v:.2f} s" for k, v in first.items())
        + f" → total {total:.2f} s; {up.created:,} new, {up.unchanged:,} unchanged, "
        f"{up.errors} errors"
    )
    again, up2 = upload_once(lab, tech, path)
    total2 = sum(again.values())
    print(
        "re-upload: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in again.items())
        + f" → total {total2:.2f} s; {up2.created:,} new, {up2.unchanged:,} unchanged"
    )
    floor = raw_copy(args.url, path)
    print(f"raw COPY of the same rows: {floor:.2f} s; upload/raw = {total / floor:.1f}×")
    tubes = raw_tube_update(args.url)
    print(f"raw UPDATE of the same tubes' status (trigger + 7 indexes): {tubes:.2f} s")
    print(f"load average after: {os.getloadavg()}")
    ok = total <= TARGET_SECONDS and up.created == args.rows and up2.created == 0
    print(f"target ≤ {TARGET_SECONDS:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
