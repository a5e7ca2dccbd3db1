"""`make test`'s pytest part: the suite on SQLite, then on PostgreSQL when a server
answers at TEST_POSTGRES_URL (TEST_LEGS_PARALLEL=1 runs both at once); their
output is printed leg by leg, then one line per leg and the total.

REQUIRE_POSTGRES=1 turns a missing PostgreSQL into a failure instead of a skip.
Extra arguments are passed to pytest (e.g. `python -m tests.legs -k scope`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Leg:
    name: str
    env: dict[str, str]
    log: Path
    report: Path
    process: subprocess.Popen[bytes] | None = None
    seconds: float = 0.0

    def counts(self) -> tuple[int, int, int]:
        if not self.report.exists():
            return 0, 1, 0
        suite = ET.parse(self.report).getroot()  # noqa: S314
        suite = suite if suite.tag == "testsuite" else suite[0]
        total = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        return total - failed - skipped, failed, skipped


def postgres_answers(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def main(argv: list[str]) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="swabline-test-"))
    base_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    legs = [Leg("sqlite", dict(base_env), workdir / "sqlite.log", workdir / "sqlite.xml")]
    pg_url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    notes: list[str] = []
    pg_missing = False
    if postgres_answers(pg_url):
        legs.append(
            Leg(
                "postgres",
                {
                    **base_env,
                    "DATABASE_URL": pg_url,
                    "TEST_DATABASE_NAME": f"test_swabline_{os.getpid()}",
                },
                workdir / "postgres.log",
                workdir / "postgres.xml",
            )
        )
    else:
        pg_missing = True
        notes.append(f"postgres: no server answers at {pg_url}")
    # Tests that start their own servers run in one leg only (tests/deploy/clusters.py).
    names = ",".join(leg.name for leg in legs)
    for leg in legs:
        leg.env["TEST_LEGS"] = names

    # One leg after the other by default: side by side, the two legs' Chromium
    # sessions and servers starve each other on two CPUs and the station's timing
    # tests time out. TEST_LEGS_PARALLEL=1 runs them at once (about half the time).
    parallel = os.environ.get("TEST_LEGS_PARALLEL") == "1"
    for leg in legs:
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--junitxml={leg.report}",
            *argv,
        ]
        leg.seconds = time.monotonic()
        with leg.log.open("wb") as out:
            leg.process = subprocess.Popen(cmd, env=leg.env, stdout=out, stderr=subprocess.STDOUT)
        if not parallel:
            leg.process.wait()
            leg.seconds = time.monotonic() - leg.seconds
    for leg in legs:
        assert leg.process is not None
        if parallel:
            leg.process.wait()
            leg.seconds = time.monotonic() - leg.seconds

    failed_any = False
    for leg in legs:
        print(f"\n======== leg: {leg.name} ========", flush=True)
        sys.stdout.write(leg.log.read_text(errors="replace"))
        assert leg.process is not None
        # pytest exit 5 means "no tests collected" (e.g. a -k that matches nothing).
        failed_any |= leg.process.returncode not in (0, 5)

    print("\n======== legs ========")
    passed = failed = skipped = 0
    for leg in legs:
        p, f, s = leg.counts()
        passed, failed, skipped = passed + p, failed + f, skipped + s
        browser = _browser_line(leg.log.read_text(errors="replace"))
        print(f"leg {leg.name}: ran, {p} passed, {f} failed, {s} skipped; {browser}")
    for note in notes:
        required = os.environ.get("REQUIRE_POSTGRES") == "1"
        print(f"leg {note}: {'FAILED (REQUIRE_POSTGRES=1)' if required else 'skipped'}")
    if pg_missing and os.environ.get("REQUIRE_POSTGRES") == "1":
        failed_any = True
        failed += 1
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed_any else 0


def _browser_line(log: str) -> str:
    for line in log.splitlines():
        if line.startswith("Browser tests:"):
            return line[0].lower() + line[1:]
    return "browser tests: none selected"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
