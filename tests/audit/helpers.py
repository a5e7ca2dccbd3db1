"""Make the database itself refuse audit events: a real trigger on the audit table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

TRIGGER = "audit_refuses_every_insert"


@contextmanager
def audit_refused() -> Iterator[None]:
    """While open, every INSERT into the audit table fails in the database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN RAISE EXCEPTION 'audit store refuses writes'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON audit_auditevent"
                f" FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON audit_auditevent"
                " BEGIN SELECT RAISE(ABORT, 'audit store refuses writes'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER {TRIGGER} ON audit_auditevent")
                cursor.execute(f"DROP FUNCTION {TRIGGER}()")
            else:
                cursor.execute(f"DROP TRIGGER {TRIGGER}")
