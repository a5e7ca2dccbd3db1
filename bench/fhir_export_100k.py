"""Benchmark: the bulk FHIR NDJSON export of 100,000 people's released results.

    .venv/bin/python -m bench.fhir_export_100k [--tubes 10000] [--pool 10] [--reuse]

Standalone, like `bench/lab_release_100k.py`, whose loader it reuses. In a database of
its own (`BENCH_FHIR_URL`, default
postgresql://postgres@127.0.0.1:5432/swabline_bench_fhir, dropped and created again
unless `--reuse`):

1. `--tubes × --pool` people in pooled tubes with entered results (2 % positive,
   1 % invalid), released by the real `release_results`;
2. in a fresh process (so its memory is the export's own): a province official's
   export, `swabline.interop.exporting.write_export` — the real code the worker
   runs, every resource type — timed, with the statements it sent counted and the
   process's peak resident memory read from the kernel;
3. the same-run baseline: the same SELECT read through a server-side cursor in the
   same chunks, rows discarded (what the database and driver cost alone).

Reports rows (DiagnosticReports) per second, NDJSON lines, bytes, statements, and
memory before and at the peak of the export.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import lab_release_100k as lab

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/swabline_bench_fhir"


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def prepare(url: str, tubes: int, pool: int) -> None:
    lab.prepare_database(url)
    lab.setup_django(url)
    world = lab.make_world()
    lab.load(url, world, tubes, pool)
    seconds, _cpu, release = lab.release(world)
    print(f"released {release.people:,} people in {seconds:.1f} s", flush=True)
    from swabline.accounts import services as accounts
    from swabline.accounts.enums import Role
    from swabline.accounts.models import User
    from swabline.places.models import Place

    official = User.objects.create(username="bench-province")
    province = Place.objects.get(code=lab.PROVINCE, level="province")
    accounts.assign(user=official, role=Role.OFFICIAL, by=None, place=province)


def measure(url: str, chunk: int, folder: str) -> dict[str, Any]:
    """In this process: the export, then the raw baseline; JSON on stdout."""
    lab.setup_django(url)
    from django.db import connection

    from swabline.accounts.models import User
    from swabline.interop import exporting, queries
    from swabline.interop.enums import ExportStatus
    from swabline.interop.models import BulkExport

    os.environ["FHIR_EXPORT_DIR"] = folder
    from django.conf import settings

    settings.FHIR_EXPORT_DIR = folder
    official = User.objects.get(username="bench-province")
    BulkExport.objects.filter(requested_by=official).delete()
    job = BulkExport.objects.create(
        requested_by=official,
        request_url="bench",
        base_url="http://127.0.0.1/api/v1/fhir",
        status=ExportStatus.RUNNING,
        language="vi",
    )
    statements = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    before = rss_kib()
    started = time.perf_counter()
    with connection.execute_wrapper(count):
        output = exporting.write_export(job, chunk_size=chunk)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    files = list(exporting.export_dir(job).iterdir())
    size = sum(f.stat().st_size for f in files)

    query = queries.ReportQuery(user=official)
    where, params = query.where()
    started = time.perf_counter()
    raw_rows = 0
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"SELECT {queries.COLUMNS} {where} ORDER BY p.id, s.id", params)
        while rows := cursor.fetchmany(chunk):
            raw_rows += len(rows)
    raw = time.perf_counter() - started
    counts = {o["type"]: o["count"] for o in output}
    return {
        "reports": counts.get("DiagnosticReport", 0),
        "lines": sum(counts.values()),
        "by_type": counts,
        "bytes": size,
        "seconds": round(seconds, 2),
        "reports_per_second": round(counts.get("DiagnosticReport", 0) / seconds),
        "lines_per_second": round(sum(counts.values()) / seconds),
        "statements": statements,
        "rss_before_mib": round(before / 1024, 1),
        "rss_peak_mib": round(peak / 1024, 1),
        "raw_cursor_seconds": round(raw, 2),
        "raw_rows": raw_rows,
        "chunk": chunk,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tubes", type=int, default=10_000)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--url", default=os.environ.get("BENCH_FHIR_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="Keep the loaded database.")
    parser.add_argument("--measure", metavar="FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.url, args.chunk, args.measure)))
        return 0
    if not args.reuse:
        print(f"preparing database {args.url.rsplit('/', 1)[-1]}", flush=True)
        prepare(args.url, args.tubes, args.pool)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fhir-export-bench-") as folder:
        done = subprocess.run(
            [sys.executable, "-m", "bench.fhir_export_100k", "--url", args.url,
             "--chunk", str(args.chunk), "--measure", folder],
            cwd=ROOT, capture_output=True, text=True, check=True,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
        )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    print(
        f"export: {report['reports']:,} reports ({report['lines']:,} NDJSON lines,"
        f" {report['bytes'] / 2**20:,.0f} MiB) in {report['seconds']:.2f} s ="
        f" {report['reports_per_second']:,} reports/s, {report['lines_per_second']:,} lines/s;"
        f" {report['statements']} SQL statements"
    )
    print(
        f"memory: {report['rss_before_mib']} MiB before, peak {report['rss_peak_mib']} MiB;"
        f" raw cursor read of the same rows {report['raw_cursor_seconds']:.2f} s"
        f" (export / raw = {report['seconds'] / max(report['raw_cursor_seconds'], 0.001):.1f}x)"
    )
    print(f"load average after {load[0]:.2f} (2 CPUs)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
