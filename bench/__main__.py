"""`python -m bench` (what `make bench` runs): every case on SQLite, then PostgreSQL.

Each leg runs in its own process (bench/leg.py) because Django can be configured for
one database per process. Results are printed and written to docs/performance.md.
Exits non-zero when a leg or case failed, or a case missed its target; a PostgreSQL
leg with no server to talk to is skipped with a message, not failed.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench import report
from bench.config import ROOT, Config


def prepare_postgres(url: str) -> str | None:
    """Creates the benchmark database if missing; returns why the leg is skipped, if so."""
    try:
        name = conninfo_to_dict(url).get("dbname")
    except psycopg.ProgrammingError as exc:
        return f"BENCH_POSTGRES_URL is not a valid connection string ({exc})"
    if not name:
        return "BENCH_POSTGRES_URL names no database"
    admin = make_conninfo(url, dbname="postgres", connect_timeout=5)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                print(f"[postgresql] creating database {name}", flush=True)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        return f"no PostgreSQL server answered at {_redact(url)} ({first_line})"
    return None


def _redact(url: str) -> str:
    """The URL without a password, for messages and the report."""
    params = conninfo_to_dict(url)
    host, port, name = params.get("host", ""), params.get("port", ""), params.get("dbname", "")
    return f"postgresql://{params.get('user', '')}@{host}:{port}/{name}"


def run_leg(name: str, database_url: str, config: Config, work_dir: Path) -> dict[str, Any]:
    result_path = work_dir / f"result-{name}.json"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        # Overridable to try a settings change (it must build on bench.settings).
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS_MODULE", "bench.settings"),
        "LOG_LEVEL": "WARNING",
        "BENCH_RESULT": str(result_path),
        "PYTHONUNBUFFERED": "1",
    }
    # No overall timeout: the leg bounds every wait itself (server start, load workers,
    # migrations), and a case's duration depends on BENCH_* settings and the machine.
    leg = subprocess.Popen([sys.executable, "-m", "bench.leg", name], cwd=ROOT, env=env)
    try:
        leg.wait()
    finally:
        if leg.poll() is None:  # interrupted: let the leg stop its server cleanly
            leg.send_signal(signal.SIGTERM)
            try:
                leg.wait(60)
            except subprocess.TimeoutExpired:
                leg.kill()
    if not result_path.exists():
        return {"leg": name, "cases": [], "error": "the leg process wrote no result"}
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


LOCK_PATH = Path(tempfile.gettempdir()) / "swabline-bench.lock"


def _take_lock() -> int:
    """Serialises benchmark runs on this machine: two at once would share the CPUs and
    the PostgreSQL database, and both sets of figures would be wrong."""
    descriptor = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "?"
        print(f"Another benchmark run (pid {holder}) holds {LOCK_PATH}; waiting for it.")
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, str(os.getpid()).encode(), 0)
    return descriptor  # held until this process exits


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    config = Config.from_env()
    _take_lock()
    started = report.now()
    print(
        f"Benchmarks: legs {', '.join(config.legs)}; {config.warmup:g} s warm-up + "
        f"{config.seconds:g} s per case; server {config.workers} worker(s) x "
        f"{config.threads} thread(s); client {config.connections} connections in "
        f"{config.client_processes} process(es)",
        flush=True,
    )
    legs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="swabline-bench-", dir="/tmp") as tmp:
        work_dir = Path(tmp)
        for name in config.legs:
            if name == "sqlite":
                database_url = f"sqlite:///{work_dir / 'bench.sqlite3'}"
            else:
                skipped = prepare_postgres(config.postgres_url)
                if skipped is not None:
                    print(f"[postgresql] SKIPPED: {skipped}", flush=True)
                    legs.append({"leg": name, "cases": [], "skipped": skipped, "error": None})
                    continue
                database_url = config.postgres_url
            legs.append(run_leg(name, database_url, config, work_dir))

    print()
    print(report.text(legs))
    report.write(config.output, report.markdown(legs, config, started))
    print(f"Wrote {config.output}")
    problems = report.failed(legs)
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
