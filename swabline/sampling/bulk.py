"""Set-based reads and writes for the sync path: COPY on PostgreSQL, executemany on
SQLite, and `= ANY(array)` lookups.

Django's `bulk_create` and `bulk_update` build and quote every value in Python
(TRAPS: ~26k rows/s into PostgreSQL; COPY ~186k rows/s), which would be most of a
500-event batch's time. These helpers take plain tuples in the order of `fields`.
Rows bypass `Model.save()`: callers set every column, `province_code` included.
Triggers and constraints apply as for any insert or update.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models

# Below this many rows a multi-row INSERT beats COPY's extra protocol round trips.
COPY_FROM = 20
# Types whose text form never holds a comma (see `any_of`).
_JOINABLE = frozenset({"bigint", "uuid"})


@contextmanager
def pipeline() -> Iterator[None]:
    """Statements inside are sent without waiting for each answer (psycopg's
    pipeline mode: no COPY inside), and errors raised when the pipeline syncs become
    Django's. Plain sequential execution on SQLite."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def select(
    sql: str, params: Sequence[Any], *, prepare: bool | None = None
) -> list[tuple[Any, ...]]:
    """Rows of a raw SELECT (the ORM's compile step costs more than a scan's work).

    On PostgreSQL the parameters are bound by the server, through psycopg's own
    cursor (Django's quotes them into the SQL text in Python, and the server then
    parses and plans every statement afresh), and, unless `PREPARED_STATEMENTS` is
    off (a pooler in transaction mode that cannot keep them), the statement is
    prepared on the server on its first run on a connection: a station's per-scan
    statements are planned once per server process. (Django turns psycopg's own
    preparing off for the whole connection; this turns it on around these
    statements only; `prepare` overrides the setting.) Errors become Django's; the
    statement is logged like any query when queries are (tests count them)."""
    # The wrapper itself, not the `connection` proxy: every attribute read through
    # the proxy looks the wrapper up again.
    wrapper = connections[DEFAULT_DB_ALIAS]
    if wrapper.vendor != "postgresql":
        with wrapper.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    return _server_bound(sql, params, fetch=True, prepare=prepare)


def _server_bound(
    sql: str, params: Sequence[Any], *, fetch: bool, prepare: bool | None = None
) -> list[tuple[Any, ...]]:
    """Run `sql` on PostgreSQL through psycopg's own cursor, bound and (unless
    `PREPARED_STATEMENTS` is off) prepared by the server (see `select`)."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    wrapper.ensure_connection()
    wrapper.validate_no_broken_transaction()
    raw = wrapper.connection
    if prepare is None:
        prepare = bool(settings.PREPARED_STATEMENTS)
    threshold = raw.prepare_threshold
    if prepare:
        raw.prepare_threshold = 0
    started = time.monotonic()
    try:
        with wrapper.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            cursor.execute(sql, params, prepare=prepare or None)
            rows = cursor.fetchall() if fetch else []
    finally:
        raw.prepare_threshold = threshold
    if wrapper.queries_logged:
        duration = time.monotonic() - started
        wrapper.queries_log.append({"sql": f"{sql} {params!r}", "time": f"{duration:.3f}"})
    return rows


def any_of(column: str, values: Collection[Any], sql_type: str) -> tuple[str, list[Any]]:
    """SQL and parameters for "`column` is one of `values`": one typed array parameter
    on PostgreSQL (`= ANY(%s::bigint[])`: cheap to bind however long; the type
    keeps the planner on the index), an IN list on SQLite. `values` are given as
    the database stores them (UUIDs: see `uuid_param`); an empty set matches nothing.
    """
    values = list(values)
    if not values:
        return "1 = 0", []
    if len(values) == 1:  # a lone scan's lookups: binding an array costs more than the query
        cast = f"::{sql_type}" if connection.vendor == "postgresql" else ""
        return f"{column} = %s{cast}", values
    if connection.vendor == "postgresql":
        if sql_type in _JOINABLE or (sql_type == "text" and not any("," in v for v in values)):
            # One text parameter split by the server: Django's client-side binding
            # quotes a list element by element in Python (a 500-event batch's ids),
            # psycopg dumps a list of text in Python too (its scanned QR tokens).
            joined = ",".join(str(v) for v in values)
            return f"{column} = ANY(string_to_array(%s, ',')::{sql_type}[])", [joined]
        return f"{column} = ANY(%s::{sql_type}[])", [values]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


def uuid_param(value: uuid.UUID) -> Any:
    """A UUID as the database stores it (SQLite: 32 hex digits)."""
    return value if connection.vendor == "postgresql" else value.hex


def uuid_params(values: Iterable[uuid.UUID]) -> list[Any]:
    """`uuid_param` of each value (the database asked once, not per value)."""
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return list(values)
    return [value.hex for value in values]


def uuid_value(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def json_value(value: Any) -> Any:
    """A JSON column read raw (Django's psycopg setup returns jsonb as text)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def for_update(of: str) -> str:
    """Row locks where the database has them (SQLite serialises writers anyway)."""
    return f" FOR UPDATE OF {of}" if connection.vendor == "postgresql" else ""


def insert(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert `rows` (values in the order of `fields`) into `model`'s table."""
    if not rows:
        return
    meta = model._meta
    concrete = _fields(model, fields)
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in concrete)
    if connection.vendor == "postgresql" and len(rows) >= COPY_FROM:
        _copy(table, columns, concrete, rows)
        return
    placeholders = ", ".join(["%s"] * len(concrete))
    prepared = [_prepare(concrete, row) for row in rows]
    statement = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
    with connection.cursor() as cursor:
        if len(prepared) == 1:  # one round trip, without executemany's pipeline
            cursor.execute(statement, prepared[0])
        else:
            cursor.executemany(statement, prepared)


def update(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Set `fields` of each row's record: every row is (pk, *values in `fields` order).
    One `UPDATE … FROM (VALUES …)` on PostgreSQL; executemany on SQLite."""
    if not rows:
        return
    meta = model._meta
    concrete = _fields(model, fields)
    table = connection.ops.quote_name(meta.db_table)
    pk_field = meta.pk
    assert pk_field is not None
    pk = connection.ops.quote_name(str(pk_field.column))
    prepared = [(row[0], *_prepare(concrete, row[1:])) for row in rows]
    if connection.vendor == "postgresql" and len(prepared) > 1:
        # One array per column, bound by the server: a VALUES list quoted by Django's
        # cursor cost more Python than the batch's other statements together.
        types = [pk_field.db_type(connection), *(f.db_type(connection) for f in concrete)]
        names = ["pk", *(f.column for f in concrete)]
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        sets = ", ".join(
            f"{connection.ops.quote_name(n)} = v.{connection.ops.quote_name(n)}" for n in names[1:]
        )
        columns = ", ".join(connection.ops.quote_name(n) for n in names)
        statement = (
            f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({columns})"  # noqa: S608
            f" WHERE {table}.{pk} = v.pk"
        )
        columns_of_values = [list(column) for column in zip(*prepared, strict=True)]
        _server_bound(statement, columns_of_values, fetch=False)
        return
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in concrete)
    statement = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608
    reordered = [(*row[1:], row[0]) for row in prepared]
    with connection.cursor() as cursor:
        if len(reordered) == 1:
            cursor.execute(statement, reordered[0])
        else:
            cursor.executemany(statement, reordered)


def _copy(table: str, columns: str, concrete: Sequence[Any], rows: Sequence[Sequence[Any]]) -> None:
    # JSON as text, which the server parses as it would the binary dumper's output:
    # json.dumps in one C call per value, without psycopg's wrapper and dumper.
    json_at = [i for i, f in enumerate(concrete) if isinstance(f, models.JSONField)]
    dumps = json.dumps
    statement = f"COPY {table} ({columns}) FROM STDIN"
    started = time.monotonic()
    # wrap_database_errors: psycopg's errors become Django's (IntegrityError…), as
    # they would through Django's own cursor.
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(statement) as copy,
    ):
        for row in rows:
            if json_at:
                row = list(row)
                for i in json_at:
                    row[i] = dumps(row[i])
            copy.write_row(row)
    if connection.queries_logged:
        # The raw COPY bypasses Django's cursor wrapper; log it like any query so
        # query counts (tests, the debug toolbar) stay true.
        duration = time.monotonic() - started
        connection.queries_log.append(
            {"sql": f"{len(rows)} rows: {statement}", "time": f"{duration:.3f}"}
        )


def _fields(model: type[models.Model], names: Sequence[str]) -> list[Any]:
    return [model._meta.get_field(name) for name in names]


def _prepare(concrete: Sequence[Any], row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(f.get_db_prep_save(v, connection) for f, v in zip(concrete, row, strict=True))
