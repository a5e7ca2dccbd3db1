"""Databases the fault tests' subprocesses can reach: the leg's engine, migrated
once per session into a template, cloned for each test (a file copy on SQLite,
`CREATE DATABASE … TEMPLATE` on PostgreSQL) and dropped afterwards."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.faults.procs import child_env, run_python


def _server() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"] or "postgres",
    }


def _admin(sql: str) -> None:
    import psycopg

    s = _server()
    with psycopg.connect(
        host=s["host"], port=s["port"], user=s["user"], dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql)


def _pg_url(name: str) -> str:
    s = _server()
    return f"postgresql://{s['user']}@{s['host']}:{s['port']}/{name}"


def on_postgres() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


@pytest.fixture(scope="session")
def template_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not on_postgres():
        url = f"sqlite:///{tmp_path_factory.mktemp('faults') / 'template.sqlite3'}"
        run_python(child_env(url), "manage.py", "migrate", "--no-input", "-v0", "--skip-checks")
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copy is the main file only
        yield url
        return
    name = f"h_faults_tpl_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        url = _pg_url(name)
        run_python(child_env(url), "manage.py", "migrate", "--no-input", "-v0", "--skip-checks")
        yield url
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(template_url: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of this test's own, outside the test transaction."""
    if template_url.startswith("sqlite"):
        path = tmp_path / "faults.sqlite3"
        shutil.copyfile(template_url.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    name = f"h_faults_{uuid.uuid4().hex[:8]}"
    template = template_url.rsplit("/", 1)[1]
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
