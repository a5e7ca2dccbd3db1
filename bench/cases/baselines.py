"""The baselines every other case is compared with.

raw-insert / raw-get: the database driver alone (sqlite3 or psycopg), one row per
transaction, the same table, the same connection settings as Django.
plain-insert-http / plain-get-http: the least a Django view can do for the same work,
served by the real server behind the project's middleware. A Swabline endpoint that
writes one record names "plain-insert-http" as its baseline; one that reads by key
names "plain-get-http".
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from psycopg.types.json import Jsonb

from bench.baseline.models import BenchRow
from bench.leg import Leg
from bench.registry import DbCase, DbOp, HttpCase, Request, register

SEED_ROWS = 10_000
TABLE = BenchRow._meta.db_table


def seed_key(index: int) -> str:
    return f"seed-{index:06d}"


def payload(seq: int) -> dict[str, object]:
    """A small JSON document, about the size of a scan event."""
    return {"site": "S-0042", "kit": f"K{seq:08d}", "tube": seq % 10, "ok": True}


def ensure_seed_rows() -> None:
    """SEED_ROWS rows with keys seed-000000..., made once per leg (idempotent)."""
    if BenchRow.objects.filter(key__startswith="seed-").count() >= SEED_ROWS:
        return
    BenchRow.objects.bulk_create(
        [BenchRow(key=seed_key(i), payload=payload(i)) for i in range(SEED_ROWS)],
        batch_size=1000,
        ignore_conflicts=True,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(TABLE)}")


@register
class RawInsert(DbCase):
    id = "raw-insert"
    title = "Raw driver: INSERT one row per transaction"

    @contextmanager
    def session(self, leg: Leg, worker: int) -> Iterator[DbOp]:
        prefix = f"raw-{leg.token}-{worker}-"
        if leg.vendor == "postgresql":
            pg = leg.postgres_connect()
            pg_sql = f'INSERT INTO {TABLE} ("key", payload, created_at) VALUES (%s, %s, %s)'

            def pg_insert(seq: int, rng: random.Random) -> int:
                pg.execute(pg_sql, (f"{prefix}{seq}", Jsonb(payload(seq)), datetime.now(UTC)))
                return 1

            try:
                yield pg_insert
            finally:
                pg.close()
        else:
            lite = leg.sqlite_connect()
            lite_sql = f'INSERT INTO {TABLE} ("key", payload, created_at) VALUES (?, ?, ?)'

            def lite_insert(seq: int, rng: random.Random) -> int:
                # Django stores SQLite datetimes as naive UTC text and JSON as text.
                now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
                lite.execute(lite_sql, (f"{prefix}{seq}", json.dumps(payload(seq)), now))
                return 1

            try:
                yield lite_insert
            finally:
                lite.close()


@register
class RawGet(DbCase):
    id = "raw-get"
    title = "Raw driver: SELECT one row by unique key"

    def setup(self, leg: Leg) -> None:
        ensure_seed_rows()

    @contextmanager
    def session(self, leg: Leg, worker: int) -> Iterator[DbOp]:
        columns = '"id", "key", payload, created_at'
        if leg.vendor == "postgresql":
            pg = leg.postgres_connect()
            pg_sql = f'SELECT {columns} FROM {TABLE} WHERE "key" = %s'

            def pg_get(seq: int, rng: random.Random) -> int:
                row = pg.execute(pg_sql, (seed_key(rng.randrange(SEED_ROWS)),)).fetchone()
                if row is None:
                    raise LookupError("seed row missing")
                return 1

            try:
                yield pg_get
            finally:
                pg.close()
        else:
            lite = leg.sqlite_connect()
            lite_sql = f'SELECT {columns} FROM {TABLE} WHERE "key" = ?'

            def lite_get(seq: int, rng: random.Random) -> int:
                row = lite.execute(lite_sql, (seed_key(rng.randrange(SEED_ROWS)),)).fetchone()
                if row is None:
                    raise LookupError("seed row missing")
                json.loads(row[2])  # Django decodes the JSON column too
                return 1

            try:
                yield lite_get
            finally:
                lite.close()


@register
class PlainInsertHttp(HttpCase):
    id = "plain-insert-http"
    title = "Plain Django insert endpoint (POST /bench/plain-insert)"
    baseline = "raw-insert"
    token = ""

    def setup(self, leg: Leg) -> None:
        self.token = leg.token  # set before the client processes fork

    def request(self, worker: int, seq: int, rng: random.Random) -> Request:
        # Keys are unique per run, client process and sequence number.
        key = f"http-{self.token}-{worker}-{seq}"
        body = json.dumps({"key": key, "payload": payload(seq)}).encode()
        return Request("POST", "/bench/plain-insert", body)


@register
class PlainGetHttp(HttpCase):
    id = "plain-get-http"
    title = "Plain Django get endpoint (GET /bench/plain-get/<key>)"
    baseline = "raw-get"

    def setup(self, leg: Leg) -> None:
        ensure_seed_rows()

    def request(self, worker: int, seq: int, rng: random.Random) -> Request:
        return Request("GET", f"/bench/plain-get/{seed_key(rng.randrange(SEED_ROWS))}")
