"""Real processes for the fault tests: granian serving swabline on a port of the
faults range, a throwaway PostgreSQL cluster, and reading a database from outside.

Every process is started in its own session, so "kill -9 the web process" kills
granian's whole process group (its main process and workers) the way an OOM killer
or a power cut would, and nothing is left behind when a test fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.log_scan import find_personal_data

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# docs/brief: the faults part owns these ports (web servers, throwaway clusters).
WEB_PORTS = range(8630, 8640)
PG_PORTS = range(55430, 55440)
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port(ports: range) -> int:
    """The first port of `ports` nobody listens on (the two legs may run at once)."""
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def child_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "swabline.settings",
        "LOG_LEVEL": "INFO",
        **extra,
    }
    env.pop("TEST_DATABASE_NAME", None)
    return env


def run_python(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run `python ARGS` in the checkout; its stdout (it must succeed)."""
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"{args} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


def assert_logs_clean(path: Path) -> int:
    """The subprocess's log lines hold no personal data (tests/log_scan.py's rules)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    hits = [(kinds, line[:200]) for line in lines if (kinds := find_personal_data(line))]
    assert hits == [], f"personal data in {path.name}: {hits[:3]}"
    return len(lines)


class Web:
    """granian (WSGI, like production) serving swabline on `port` of 127.0.0.1: one
    worker with four threads by default (it boots in half the time of two workers
    on a busy machine, and the kill still takes the whole process group)."""

    def __init__(self, env: dict[str, str], port: int, log: Path, *, workers: int = 1) -> None:
        self.env, self.port, self.log, self.workers = env, port, log, workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Web:
        command = [
            sys.executable, "-m", "granian", "--interface", "wsgi", "--http", "1", "--no-ws",
            "--host", HOST, "--port", str(self.port), "--workers", str(self.workers),
            "--blocking-threads", "4", "--log-level", "warning", "swabline.wsgi:application",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_for(self.healthy, 60, "granian answers /healthz")
        return self

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"granian exited: {self.log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def kill9(self) -> None:
        """SIGKILL granian's whole process group: no cleanup, requests cut mid-way."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def wait_for(check: Any, timeout: float, what: str) -> None:
    ends = time.monotonic() + timeout
    while not check():
        if time.monotonic() > ends:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def post_json(port: int, path: str, body: dict[str, Any], token: str) -> tuple[int, Any]:
    """One POST on a fresh connection; raises OSError/HTTPException when cut."""
    conn = http.client.HTTPConnection(HOST, port, timeout=20)
    try:
        conn.request(
            "POST", path, json.dumps(body),
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}",
             "Accept-Language": "en"},
        )  # fmt: skip
        response = conn.getresponse()
        data = response.read()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(data)
        return response.status, data[:200]
    finally:
        conn.close()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` read from outside the servers (SQLite file or PostgreSQL)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


class Cluster:
    """A throwaway PostgreSQL 15 cluster of our own (initdb in a temporary folder),
    so a test may stop and restart it without touching the shared server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port(PG_PORTS)
        self.url = f"postgresql://postgres@{HOST}:{self.port}/swabline"

    def pg(self, *args: str) -> None:
        # initdb and postgres refuse to run as root: run them as the postgres user then.
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> Cluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        import psycopg

        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE swabline")
        return self

    def load(self, source_url: str) -> None:
        """Copy a migrated database (schema, triggers, rows) into ours: seconds, where
        running every migration again takes most of a minute."""
        dump = subprocess.run(
            [str(PG_BIN / "pg_dump"), "--no-owner", "--no-privileges", source_url],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            [str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", self.url],
            input=dump.stdout, capture_output=True, check=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses={HOST} -c fsync=off"
        self.pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "pg.log"),
                "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def cluster(folder: Path) -> Iterator[Cluster]:
    made = Cluster(folder)
    try:
        yield made.init()
    finally:
        made.remove()
