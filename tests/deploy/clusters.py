"""Throwaway PostgreSQL clusters for the deploy tests (ports 55440-55449).

PostgreSQL refuses to run as root, so each cluster lives in a directory owned by
the `postgres` user and its programs run as that user when the tests run as root.
Every cluster is stopped and removed by the fixture that made it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def needs(present: bool, hint: str) -> pytest.MarkDecorator:
    """Skip where a program is missing, except in CI (`REQUIRE_POSTGRES`, set by
    .ci/run), where the test runs and fails on the missing program."""
    return pytest.mark.skipif(not present and not os.environ.get("REQUIRE_POSTGRES"), reason=hint)


def once_per_run() -> pytest.MarkDecorator:
    """Tests that start their own servers do the same work whatever the leg's database:
    when `make test` runs a PostgreSQL leg too (tests/legs.py names the legs), they run
    there only; a lone SQLite run still runs them."""
    legs = os.environ.get("TEST_LEGS", "").split(",")
    sqlite_leg = "DATABASE_URL" not in os.environ
    return pytest.mark.skipif(
        sqlite_leg and "postgres" in legs,
        reason="its own servers: runs once, in the PostgreSQL leg",
    )


def needs_pg_bin() -> pytest.MarkDecorator:
    return needs((PG_BIN / "initdb").exists(), f"PostgreSQL programs not in {PG_BIN}")


def pg(program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program (as `postgres` when we are root)."""
    command = [*as_postgres(), str(PG_BIN / program), *args]
    return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)


def workdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    return path


class Cluster:
    """One PostgreSQL server in `data`, listening on 127.0.0.1:`port`."""

    def __init__(self, data: Path, port: int) -> None:
        self.data = data
        self.port = port

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self, *config: str) -> Cluster:
        pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        settings = ["fsync = off", "full_page_writes = on", *config]
        with open(self.data / "postgresql.auto.conf", "a") as auto:
            auto.write("\n".join(settings) + "\n")
        return self

    def start(self) -> Cluster:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w",
           "-t", "60", "start")  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def connect(self, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url, autocommit=True, **kwargs)  # type: ignore[arg-type]

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with self.connect() as conn:
            cursor = conn.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else []

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while pg("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode:
            if time.monotonic() > deadline:
                raise TimeoutError((self.data / "log").read_text()[-2000:])
            time.sleep(0.2)


@contextmanager
def cluster(port: int, *config: str, prefix: str = "swabline-pg-") -> Iterator[Cluster]:
    """A fresh primary, started; stopped and deleted afterwards."""
    root = workdir(prefix)
    data = root / "data"
    server = Cluster(data, port)
    try:
        server.init(*config).start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def streaming_replica(primary: Cluster, port: int) -> Iterator[Cluster]:
    """`pg_basebackup -R` of `primary`, started as a hot standby streaming from it."""
    root = workdir("swabline-replica-")
    data = root / "data"
    pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
       "-D", str(data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")  # fmt: skip
    replica = Cluster(data, port)
    try:
        replica.start()
        yield replica
    finally:
        replica.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def serving(
    command: list[str], port: int, *, user: str | None = None, **popen: Any
) -> Iterator[None]:
    """A server process (pgbouncer, redis-server, granian) listening on
    127.0.0.1:`port`, terminated (by its own pid) afterwards."""
    process = subprocess.Popen(command, user=user, stdout=subprocess.DEVNULL, **popen)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise TimeoutError(f"{command[0]} did not listen on {port}")
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
