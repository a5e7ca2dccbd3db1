"""Benchmark: import a 1,000,000-row list of people on PostgreSQL, against raw COPY.

    .venv/bin/python -m bench.people_import_1m [--rows 1000000] [--xlsx-rows 100000]

Standalone (the `make bench` harness measures rates over fixed windows; an import is
one long operation measured once). What it does, in a database of its own
(`BENCH_IMPORT_URL`, default postgresql://postgres@127.0.0.1:5432/swabline_bench_import,
dropped and created again each run):

1. generates a realistic CSV (Vietnamese names, dd/mm/yyyy or year-only births, phones,
   CCCDs for 60 %, households of four, 0.5 % invalid rows, 0.5 % repeated rows);
2. runs `manage.py import_people FILE --place WARD` (through call_command) in a child
   process (validation, in-file deduplication, staging by COPY, the set-based merge):
   wall time and the child's peak RSS (VmHWM, read by the child at its end);
3. runs it again on the same file (re-import: 0 new people);
4. COPYs the same rows, as text, into a plain table without indexes: the floor;
5. optionally an XLSX of `--xlsx-rows` rows through the same command.

Targets (issue): ≤ 60 s and ≤ 400 MB peak RSS for the million rows.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/swabline_bench_import"
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 400.0
WARD_CODE = "99901"

SURNAMES = (
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đinh Trịnh "
    "Lâm Mai Tạ Hà Lương Cao Kiều Quách Đoàn Thái"
).split()
MIDDLES = "Văn Thị Hữu Đức Minh Ngọc Thanh Quang Xuân Thu Kim Hoài Bảo Gia Anh Thế".split()
GIVEN = (
    "An Bình Chi Dũng Giang Hà Hải Hằng Hiếu Hoa Hùng Hương Khánh Lan Linh Long Mai Nam "
    "Nga Phúc Quân Sơn Tâm Thảo Trang Tú Tuấn Vy Yến Đào Hạnh Huy Khoa Lộc Nhung Oanh "
    "Phương Quyên Sang Tài Thắng Thủy Trí Trung Uyên Việt Xuyến Ánh Đạt Ngân Cường Hậu "
    "Bảo Cúc Diệp Duy Điệp Gấm Hiền Hiển Hòa Hồng Khải Khang Kiên Kiều Lâm Lực Luân Lý "
    "Mạnh Mỹ Nghĩa Ngọc Nhân Nhi Như Ninh Phong Phú Phượng Quang Quế Quỳnh Sáng Tấn Thái "
    "Thanh Thành Thiện Thịnh Thoa Thông Thư Thương Tiến Tín Toàn Trâm Triều Trinh Tùng "
    "Tường Uy Vân Văn Vinh Vũ Xuân Yên Ý Châu Đông Giao Hân Khuê Loan Minh Nguyên Phát"
).split()
STREETS = "Lê Lợi,Hùng Vương,Trần Phú,Nguyễn Huệ,Hai Bà Trưng,Lý Thường Kiệt,Cách Mạng Tháng Tám"
MOBILE = "32 33 34 35 36 37 38 39 70 76 77 78 79 81 82 83 84 85 86 88 89 90 91 93 94 96 97 98"
HEADER = [
    "STT",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Số điện thoại",
    "CCCD",
    "Địa chỉ",
    "Mã hộ",
    "Chủ hộ",
]


def generate_rows(count: int, seed: int = 20211) -> list[list[str]]:
    """`count` rows of people, deterministic for a seed."""
    rng = random.Random(seed)
    streets = STREETS.split(",")
    mobiles = MOBILE.split()
    rows: list[list[str]] = []
    address = ""
    for index in range(count):
        if index > 100 and rng.random() < 0.005:  # the same person listed twice
            rows.append([str(index + 1), *rows[rng.randrange(index - 100, index)][1:]])
            continue
        female = rng.random() < 0.5
        middle = "Thị" if female and rng.random() < 0.6 else rng.choice(MIDDLES)
        given = rng.choice(GIVEN)
        if rng.random() < 0.4:
            given = f"{rng.choice(GIVEN)} {given}"
        name = f"{rng.choice(SURNAMES)} {middle} {given}"
        year = rng.randrange(1930, 2021)
        birth = str(year)
        if rng.random() < 0.8:
            birth = f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{year}"
        phone = f"0{rng.choice(mobiles)}{index:07d}"[:10] if rng.random() < 0.85 else ""
        if rng.random() < 0.005:
            phone = "01234"  # invalid
        cccd = ""
        if rng.random() < 0.6:
            century = (0 if year < 2000 else 2) + (1 if female else 0)
            cccd = f"079{century}{year % 100:02d}{index:06d}"[:12]
        household = index // 4
        if index % 4 == 0:  # a household shares its address
            address = f"Số {rng.randrange(1, 300)} {rng.choice(streets)}, Tổ {rng.randrange(1, 40)}"
        rows.append(
            [
                str(index + 1),
                name,
                birth,
                "Nữ" if female else "Nam",
                phone,
                cccd,
                address,
                str(household),
                "x" if index % 4 == 0 else "",
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("DANH SÁCH NGƯỜI DÂN — BENCHMARK\n\n")
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def write_xlsx(path: Path, rows: list[list[str]]) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Danh sách")
    sheet.append(HEADER)
    for row in rows:
        # As Excel damages them: phones and CCCDs as numbers, households as numbers.
        sheet.append(
            [
                int(row[0]),
                row[1],
                row[2],
                row[3],
                float(row[4]) if row[4].isdigit() else row[4],
                float(row[5]) if row[5] else None,
                row[6],
                int(row[7]),
                row[8],
            ]
        )
    workbook.save(path)


@dataclass
class Run:
    label: str
    rows: int
    seconds: float
    cpu_seconds: float  # the import process's own CPU (Python), not the server's
    load_after: float
    peak_rss_mb: float
    created: int
    matched: int
    invalid: int
    repeated: int
    output_tail: str


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swabline.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def child(file: str, place: str, import_dir: str) -> int:
    """Run as a separate process: the import command, exactly as an operator would."""
    _setup_django(os.environ["DATABASE_URL"])
    from django.conf import settings
    from django.core.management import call_command

    settings.PEOPLE_IMPORT_DIR = Path(import_dir)
    try:
        call_command("import_people", file, place=place, no_progress=True)
    finally:
        print(f"{PEAK_MARKER}{peak_rss_kb()}", flush=True)
    return 0


PEAK_MARKER = "bench-peak-rss-kb="


def peak_rss_kb() -> int:
    """This process's peak RSS since exec (VmHWM). getrusage's ru_maxrss would also
    count the parent's pages the child held between fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(label: str, file: Path, rows: int, url: str, work: Path) -> Run:
    """The import in a child process: wall time and that child's peak RSS."""
    from swabline.people.models import PeopleImport

    env = {**os.environ, "DATABASE_URL": url, "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-m", "bench.people_import_1m", "--child", str(file), WARD_CODE]
    started = time.perf_counter()
    log = work.parent / f"{label.replace(' ', '-')}.log"
    with (
        log.open("w") as out,
        subprocess.Popen([*command, str(work)], cwd=ROOT, env=env, stdout=out, stderr=out) as proc,
    ):
        # wait4, not wait: the child's CPU time too (the machine is shared, so wall
        # time alone says little about the import itself).
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(errors="replace")
    peaks = [line for line in output.splitlines() if line.startswith(PEAK_MARKER)]
    peak_kb = int(peaks[-1][len(PEAK_MARKER) :]) if peaks else 0
    output = "\n".join(line for line in output.splitlines() if not line.startswith(PEAK_MARKER))
    if proc.returncode != 0:
        raise SystemExit(f"{label}: the import failed\n{output[-5000:]}")
    imp = PeopleImport.objects.order_by("-id").first()
    assert imp is not None
    return Run(
        label=label,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        load_after=os.getloadavg()[0],
        rows=rows,
        seconds=seconds,
        peak_rss_mb=peak_kb / 1024,
        created=imp.people_created,
        matched=imp.people_matched,
        invalid=imp.rows_invalid,
        repeated=imp.rows_duplicate_in_file,
        output_tail=output.strip()[-600:],
    )


def raw_copy(url: str, path: Path) -> float:
    """The floor: the same rows (read back from the CSV) as text, COPYed into a plain
    table without indexes."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_people")
        conn.execute(
            "CREATE TABLE bench_raw_people (stt text, full_name text, birth text, sex text, "
            "phone text, national_id text, address text, household text, head text)"
        )
        started = time.perf_counter()
        with (
            path.open(encoding="utf-8", newline="") as handle,
            conn.cursor() as cursor,
            cursor.copy("COPY bench_raw_people FROM STDIN") as copy,
        ):
            rows = csv.reader(handle)
            for row in rows:
                if len(row) == len(HEADER) and row[0] != HEADER[0]:
                    copy.write_row(row)
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw_people")
    return seconds


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


# Indexes on people_person that no query needs on a C-collation database (DESIGN: the
# clusters are created with C.UTF-8): Django's "_like" copies of every CharField
# index, and single-column indexes that lead a composite one.
REDUNDANT_INDEXES = """
SELECT indexname FROM pg_indexes WHERE tablename = 'people_person' AND (
    indexdef LIKE '%varchar_pattern_ops%'
    OR indexdef LIKE '%USING btree (province_code)'
    OR indexdef LIKE '%USING btree (ward_id)'
)
"""


def trim_indexes(url: str) -> list[str]:
    """What-if: drop the redundant indexes in the benchmark database (only there)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        names = [row[0] for row in conn.execute(REDUNDANT_INDEXES).fetchall()]
        for name in names:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        left = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'people_person'"
        ).fetchone()
    print(f"what-if: dropped {len(names)} redundant indexes, {left[0] if left else '?'} left")
    return names


def make_ward() -> None:
    from swabline.core.text import fold
    from swabline.places.enums import Level, System
    from swabline.places.models import Place

    province = Place.objects.create(
        system=System.CURRENT, level=Level.PROVINCE, code="999", name="Tỉnh Benchmark",
        short_name="Benchmark", kind="Tỉnh", name_folded="tinh benchmark", path="",
        province_code="999",
    )  # fmt: skip
    province.path = f"/{province.pk}/"
    province.save(update_fields=["path"])
    ward = Place.objects.create(
        system=System.CURRENT, level=Level.WARD, code=WARD_CODE, name="Phường Benchmark",
        short_name="Benchmark", kind="Phường", name_folded=fold("Phường Benchmark"),
        parent=province, path="", province_code="999",
    )  # fmt: skip
    ward.path = f"{province.path}{ward.pk}/"
    ward.save(update_fields=["path"])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        return child(*argv[1:4])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=0)
    parser.add_argument("--url", default=os.environ.get("BENCH_IMPORT_URL", DEFAULT_URL))
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument(
        "--trim-indexes",
        action="store_true",
        help="What-if: first drop people_person's redundant indexes in the benchmark database.",
    )
    args = parser.parse_args(argv)

    # Take turns with `make bench` and other runs of this script: two at once share
    # the CPUs and the database, and both sets of figures would be wrong.
    from bench.__main__ import _take_lock

    _take_lock()
    print(f"preparing database {args.url.rsplit('/', 1)[-1]}", flush=True)
    prepare_database(args.url)
    _setup_django(args.url)
    make_ward()
    results: dict[str, Any] = {"rows": args.rows, "load_before": os.getloadavg()}
    if args.trim_indexes:
        results["dropped_indexes"] = trim_indexes(args.url)
    with tempfile.TemporaryDirectory(prefix="swabline-import-bench-", dir="/tmp") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        rows = generate_rows(args.rows)
        csv_path = work / "people.csv"
        write_csv(csv_path, rows)
        # The parent must not hold the rows while children run: a child's peak RSS
        # would count the parent's pages it shares between fork and exec.
        del rows
        gc.collect()
        size_mb = csv_path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size_mb:.0f} MB CSV) in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip

        runs = [measure("csv import", csv_path, args.rows, args.url, work / "imports")]
        runs.append(measure("csv re-import", csv_path, args.rows, args.url, work / "imports"))
        copy_seconds = raw_copy(args.url, csv_path)
        if args.xlsx_rows:
            xlsx_rows = generate_rows(args.xlsx_rows, seed=7)
            for row in xlsx_rows:  # other people than the CSV's
                row[4] = row[4][:3] + "9" + row[4][4:] if row[4] else row[4]
            xlsx_path = work / "people.xlsx"
            write_xlsx(xlsx_path, xlsx_rows)
            del xlsx_rows
            gc.collect()
            runs.append(measure("xlsx import", xlsx_path, args.xlsx_rows, args.url, work / "imp"))
    first = runs[0]
    print()
    print(f"{'case':<16}{'rows':>11}{'seconds':>10}{'rows/s':>11}{'peak RSS':>11}"
          f"{'new':>10}{'matched':>10}{'invalid':>9}{'repeated':>9}")  # fmt: skip
    for run in runs:
        print(
            f"{run.label:<16}{run.rows:>11,}{run.seconds:>10.1f}{run.rows / run.seconds:>11,.0f}"
            f"{run.peak_rss_mb:>8.0f} MB{run.created:>10,}{run.matched:>10,}{run.invalid:>9,}"
            f"{run.repeated:>9,}   python CPU {run.cpu_seconds:.1f} s, load {run.load_after:.1f}"
        )
    print(
        f"{'raw COPY':<16}{args.rows:>11,}{copy_seconds:>10.1f}{args.rows / copy_seconds:>11,.0f}"
    )
    ratio = first.seconds / copy_seconds
    print(f"\nimport / raw COPY: {ratio:.1f}x   (load average before/after: "
          f"{results['load_before'][0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    ok_time = first.seconds <= TARGET_SECONDS
    ok_rss = first.peak_rss_mb <= TARGET_RSS_MB
    print(
        f"target ≤ {TARGET_SECONDS:g} s: {'met' if ok_time else 'MISSED'} ({first.seconds:.1f} s); "
        f"peak RSS ≤ {TARGET_RSS_MB:g} MB: {'met' if ok_rss else 'MISSED'} "
        f"({first.peak_rss_mb:.0f} MB)"
    )
    print(f"\nlast command output:\n{first.output_tail}")
    results.update(
        runs=[asdict(run) for run in runs], raw_copy_seconds=copy_seconds, ratio_to_copy=ratio
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if ok_time and ok_rss else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
