"""One database leg, run as its own process: `python -m bench.leg NAME`.

The parent (bench/__main__.py) sets DATABASE_URL, DJANGO_SETTINGS_MODULE=bench.settings
and BENCH_RESULT, so this process can configure Django for exactly one database. It
migrates, measures the DB cases in-process, starts the real server (granian, WSGI),
measures the HTTP cases against it, stops it and writes its results as JSON.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from bench.config import ROOT, Config
from bench.load import (
    HOST,
    Measurement,
    Schedule,
    db_work,
    http_work,
    run_workers,
    wait_until_quiet,
)
from bench.registry import Case, DbCase, HttpCase, load_cases, select_cases

# Seconds between forking the workers and the common start, so all are ready.
START_DELAY = 0.5


@dataclass
class Leg:
    """What a case needs to know about the database and server it runs against."""

    name: str
    database_url: str
    # Fresh before every measurement (each case, each round): cases put it in the keys
    # they create, so nothing collides with rows left by an earlier measurement.
    token: str
    workers: int
    threads: int
    port: int = 0
    # Set before each case's setup: the processes that will run its load (the `worker`
    # argument goes from 0 to client_processes - 1) and the connections each drives.
    # A DB case runs in `workers` processes with one connection each.
    client_processes: int = 0
    connections_per_process: int = 0

    @property
    def vendor(self) -> str:
        return "sqlite" if self.database_url.startswith("sqlite:") else "postgresql"

    def sqlite_connect(self) -> sqlite3.Connection:
        """A raw sqlite3 connection set up exactly as Django's (same file, same pragmas)."""
        from django.conf import settings

        database = settings.DATABASES["default"]
        options = database.get("OPTIONS", {})
        conn = sqlite3.connect(
            database["NAME"],
            timeout=options.get("timeout", 5),
            isolation_level=None,
            check_same_thread=False,
        )
        for statement in str(options.get("init_command", "")).split(";"):
            if statement.strip():
                conn.execute(statement)
        return conn

    def postgres_connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A raw psycopg connection in autocommit, as Django runs outside atomic()."""
        return psycopg.connect(self.database_url, autocommit=True)


class Server:
    """granian serving bench.wsgi:application on a free port of 127.0.0.1."""

    def __init__(self, leg: Leg, log_path: Path) -> None:
        self.leg = leg
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.leg.port = _free_port()
        command = [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--http",
            "1",
            "--no-ws",
            "--host",
            HOST,
            "--port",
            str(self.leg.port),
            "--workers",
            str(self.leg.workers),
            "--blocking-threads",
            str(self.leg.threads),
            "--log-level",
            "warning",
            "bench.wsgi:application",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_healthy()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group granian leads
            self.process.wait(5)

    def _wait_healthy(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"granian exited with {self.process.returncode}:\n{self.log()}")
            conn = http.client.HTTPConnection(HOST, self.leg.port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                body = response.read()
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}: {body[:300]!r}"
            except OSError as exc:
                last_error = str(exc)
            finally:
                conn.close()
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout:g}s ({last_error}):\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _migrate() -> None:
    command = [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"]
    for attempt in range(3):
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        print(f"  migrate failed (attempt {attempt + 1}):\n{done.stderr[-3000:]}", flush=True)
        time.sleep(30)
    raise RuntimeError("manage.py migrate failed three times; see the output above")


def _reset_baseline_tables(leg: Leg) -> None:
    """Empties the harness's own tables, so every run starts from the same state."""
    from django.db import connection

    from bench.baseline.models import BenchRow

    table = connection.ops.quote_name(BenchRow._meta.db_table)
    with connection.cursor() as cursor:
        if leg.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table} RESTART IDENTITY")
        else:
            cursor.execute(f"DELETE FROM {table}")


def _database_version(leg: Leg) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if leg.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}"


def _checkpoint() -> None:
    """Flush what the setup and earlier cases wrote (PostgreSQL's CHECKPOINT), so the
    server does not write those pages back, and every page first touched after a
    checkpoint whole into the WAL, during the next measurement. The machine's server
    checkpoints every 1 GB of WAL: a 1,000,000-row benchmark before a case could
    halve one of its rounds (a scan round at 579 events/s beside 965 and 1,121).
    Needs superuser or pg_checkpoint; without it, the case runs as before."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError as exc:
        print(f"  note: CHECKPOINT refused ({exc}); measuring without it", flush=True)


def _measure(case: Case, leg: Leg, config: Config) -> Measurement:
    from django.db import connections

    leg.token = secrets.token_hex(4)
    if isinstance(case, HttpCase):
        connections_total = case.connections or config.connections
        processes = connections_total if case.process_per_connection else config.client_processes
        leg.client_processes = max(1, min(processes, connections_total))
        leg.connections_per_process = max(1, connections_total // leg.client_processes)
    else:
        leg.client_processes = leg.workers
        leg.connections_per_process = 1
    case.setup(leg)
    if leg.vendor == "postgresql":
        _checkpoint()
    connections.close_all()  # never let forked workers share the parent's connection
    background = wait_until_quiet(config.quiet_pct, config.quiet_wait)
    if background >= config.quiet_pct:
        print(
            f"  warning: the machine is {background:.0f}% busy before {case.id} "
            f"(limit {config.quiet_pct:g}%); its figures will be low",
            flush=True,
        )
    schedule = Schedule(time.monotonic() + START_DELAY, config.warmup, config.seconds)
    concurrency = leg.client_processes * leg.connections_per_process
    if isinstance(case, DbCase):
        work = db_work(case, leg, schedule)
    else:
        assert isinstance(case, HttpCase)
        work = http_work(
            case, leg.port, leg.connections_per_process, leg.workers, schedule, leg.token
        )
    measurement = run_workers(work, leg.client_processes, schedule, concurrency)
    measurement.background_busy_pct = background
    return measurement


def _describe(case: Case) -> dict[str, Any]:
    target = case.target
    return {
        "id": case.id,
        "title": case.title,
        "kind": case.kind,
        "unit": case.unit,
        "baseline": case.baseline,
        "target": None
        if target is None
        else {
            "min_rate": target.min_rate,
            "max_p99_ms": target.max_p99_ms,
            "min_ratio": target.min_ratio,
            "text": target.describe(case.unit),
        },
    }


def _print_line(case: Case, measurement: Measurement) -> None:
    print(
        f"  {case.id:<28} {measurement.rate:>10,.0f} {case.unit:<7} "
        f"p50 {measurement.p50_ms:6.2f}  p95 {measurement.p95_ms:6.2f}  "
        f"p99 {measurement.p99_ms:6.2f} ms  errors {measurement.errors}  "
        f"load CPU {measurement.client_cpu_pct:3.0f}%  machine busy "
        f"{measurement.machine_busy_pct:3.0f}%",
        flush=True,
    )


def run_leg(name: str, config: Config, work_dir: Path) -> dict[str, Any]:
    leg = Leg(
        name=name,
        database_url=os.environ["DATABASE_URL"],
        token=secrets.token_hex(4),
        workers=config.workers,
        threads=config.threads,
    )
    result: dict[str, Any] = {
        "leg": name,
        "server": {"workers": leg.workers, "threads": leg.threads},
        "cases": [],
        "error": None,
    }
    print(f"[{name}] migrating", flush=True)
    _migrate()

    import django

    django.setup()
    load_cases()
    cases = [case for case in select_cases(config.cases) if case.legs is None or name in case.legs]
    result["database"] = _database_version(leg)
    _reset_baseline_tables(leg)

    runs: dict[str, list[Measurement]] = {case.id: [] for case in cases}
    errors: dict[str, str] = {}
    http_count = sum(isinstance(case, HttpCase) for case in cases)
    print(f"[{name}] {result['database']}: {len(cases)} case(s)", flush=True)
    with ExitStack() as stack:
        server = None
        if http_count:
            print(
                f"[{name}] starting granian ({leg.workers} worker(s) x {leg.threads} thread(s))",
                flush=True,
            )
            server = stack.enter_context(Server(leg, work_dir / f"granian-{name}.log"))
        for round_number in range(1, config.rounds + 1):
            if config.rounds > 1:
                print(f"[{name}] round {round_number} of {config.rounds}", flush=True)
            for case in cases:
                if case.id in errors:
                    continue
                try:
                    measurement = _measure(case, leg, config)
                except Exception:
                    errors[case.id] = traceback.format_exc()
                    print(f"  {case.id}: FAILED\n{errors[case.id]}", flush=True)
                else:
                    runs[case.id].append(measurement)
                    _print_line(case, measurement)
        if server is not None and server.log().strip():
            result["server_log_tail"] = server.log().strip()[-2000:]

    for case in cases:
        entry = _describe(case)
        if case.id in errors:
            entry["error"] = errors[case.id]
        else:
            # The round with the median rate stands for the case; all rates are kept.
            ordered = sorted(runs[case.id], key=lambda m: m.rate)
            entry["measurement"] = ordered[len(ordered) // 2].as_dict()
            entry["round_rates"] = [m.rate for m in runs[case.id]]
        result["cases"].append(entry)
    return result


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds `with Server(...)`, which stops granian


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    name = sys.argv[1]
    result_path = Path(os.environ["BENCH_RESULT"])
    config = Config.from_env()
    try:
        result = run_leg(name, config, result_path.parent)
    except Exception:
        result = {"leg": name, "cases": [], "error": traceback.format_exc()}
        print(f"[{name}] FAILED\n{result['error']}", flush=True)
    result_path.write_text(json.dumps(result, indent=2))
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
