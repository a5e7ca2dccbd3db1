"""Triggers that hold the tube rules in the database, on SQLite and PostgreSQL.

Check and unique constraints cannot see another table or a row's previous
state, so three rules need triggers:

1. A closed tube's members never change. A sample may be inserted, or have its
   membership columns (tube, person, campaign, position, kind, active) changed,
   only while its tube is open; on PostgreSQL also deleted only then. The
   PostgreSQL function reads the tube `FOR SHARE`, so it waits for a concurrent
   transaction that is closing the tube and then sees the tube closed: the rule
   holds under races, not only for the services (which lock the tube anyway).
2. A tube never exceeds its limit: a sample's position is at most its tube's
   `pool_limit` (positions are unique per tube among active samples, so the count
   cannot pass the limit), its campaign is its tube's, and a tube's limit is at
   most its campaign's pool size limit when it is opened. A tube's label,
   campaign, kind and limit never change after that.
3. A tube's status moves only along `enums.ALLOWED_TRANSITIONS` (nothing leads back
   to open, so a closed tube cannot be reopened to change its members), and its
   member count changes only while it is open.

Violations raise an integrity error (SQLSTATE 23514 on PostgreSQL, SQLITE_CONSTRAINT
on SQLite); the message starts with "sampling:".

SQLite has no DELETE guard: it has no TRUNCATE, and Django's `flush` (used between
transactional tests and by `manage.py flush`) deletes tables in no fixed order, so
a guard would make flushing fail. Services never delete samples (removal makes a
sample inactive). PostgreSQL's flush truncates, which fires no row triggers.

Caution: on SQLite, Django rebuilds a table for many schema changes and the rebuild
drops its triggers. A later migration that alters `sampling_sample` or
`sampling_tube` must run `install` again (import it from this module);
tests/sampling/test_constraints.py fails if a trigger is missing.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

TRANSITIONS = (
    "open>closed",
    "open>void",
    "closed>shipped",
    "shipped>received",
    "shipped>rejected",
    "received>resulted",
    "received>rejected",
    "resulted>released",
)
_ALLOWED_SQL = ", ".join(f"'{pair}'" for pair in TRANSITIONS)

POSTGRES_INSTALL = [
    """
CREATE OR REPLACE FUNCTION sampling_sample_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t_status varchar;
    t_limit integer;
    t_campaign bigint;
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.tube_id = OLD.tube_id AND NEW.person_id = OLD.person_id
       AND NEW.campaign_id = OLD.campaign_id AND NEW.position = OLD.position
       AND NEW.kind = OLD.kind AND NEW.active = OLD.active THEN
        RETURN NEW;  -- membership unchanged
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT status INTO t_status FROM sampling_tube WHERE id = OLD.tube_id FOR SHARE;
        IF t_status IS DISTINCT FROM 'open' THEN
            RAISE EXCEPTION 'sampling: tube % is %, its members cannot change',
                OLD.tube_id, t_status USING ERRCODE = 'check_violation';
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
    END IF;
    SELECT status, pool_limit, campaign_id INTO t_status, t_limit, t_campaign
        FROM sampling_tube WHERE id = NEW.tube_id FOR SHARE;
    IF t_status IS DISTINCT FROM 'open' THEN
        RAISE EXCEPTION 'sampling: tube % is %, its members cannot change',
            NEW.tube_id, t_status USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.position > t_limit THEN
        RAISE EXCEPTION 'sampling: position % exceeds the limit % of tube %',
            NEW.position, t_limit, NEW.tube_id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.campaign_id <> t_campaign THEN
        RAISE EXCEPTION 'sampling: a sample belongs to its tube''s campaign'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
""",
    """
CREATE TRIGGER sampling_sample_guard
BEFORE INSERT OR UPDATE OR DELETE ON sampling_sample
FOR EACH ROW EXECUTE FUNCTION sampling_sample_guard();
""",
    f"""
CREATE OR REPLACE FUNCTION sampling_tube_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    c_limit integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT pool_size_limit INTO c_limit FROM campaigns_campaign WHERE id = NEW.campaign_id;
        IF NEW.pool_limit > c_limit THEN
            RAISE EXCEPTION 'sampling: tube limit % exceeds the campaign''s pool size limit %',
                NEW.pool_limit, c_limit USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.code <> OLD.code OR NEW.campaign_id <> OLD.campaign_id
       OR NEW.kind <> OLD.kind OR NEW.pool_limit <> OLD.pool_limit THEN
        RAISE EXCEPTION 'sampling: a tube''s label, campaign, kind and limit are fixed'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status <> OLD.status
       AND NOT (OLD.status || '>' || NEW.status) IN ({_ALLOWED_SQL}) THEN
        RAISE EXCEPTION 'sampling: a tube cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.member_count <> OLD.member_count AND OLD.status <> 'open' THEN
        RAISE EXCEPTION 'sampling: tube % is %, its members cannot change', OLD.id, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
""",
    """
CREATE TRIGGER sampling_tube_guard
BEFORE INSERT OR UPDATE ON sampling_tube
FOR EACH ROW EXECUTE FUNCTION sampling_tube_guard();
""",
]

POSTGRES_UNINSTALL = [
    "DROP TRIGGER IF EXISTS sampling_sample_guard ON sampling_sample;",
    "DROP FUNCTION IF EXISTS sampling_sample_guard();",
    "DROP TRIGGER IF EXISTS sampling_tube_guard ON sampling_tube;",
    "DROP FUNCTION IF EXISTS sampling_tube_guard();",
]

_SQLITE_NEW_TUBE_OK = """
    SELECT RAISE(ABORT, 'sampling: the tube is not open, its members cannot change')
    WHERE COALESCE((SELECT status FROM sampling_tube WHERE id = NEW.tube_id), '') <> 'open';
    SELECT RAISE(ABORT, 'sampling: the position exceeds the tube''s limit')
    WHERE NEW.position > (SELECT pool_limit FROM sampling_tube WHERE id = NEW.tube_id);
    SELECT RAISE(ABORT, 'sampling: a sample belongs to its tube''s campaign')
    WHERE NEW.campaign_id <> (SELECT campaign_id FROM sampling_tube WHERE id = NEW.tube_id);
"""

SQLITE_INSTALL = [
    f"""
CREATE TRIGGER sampling_sample_insert_guard BEFORE INSERT ON sampling_sample
BEGIN
{_SQLITE_NEW_TUBE_OK}
END;
""",
    f"""
CREATE TRIGGER sampling_sample_update_guard BEFORE UPDATE ON sampling_sample
WHEN NEW.tube_id IS NOT OLD.tube_id OR NEW.person_id IS NOT OLD.person_id
  OR NEW.campaign_id IS NOT OLD.campaign_id OR NEW.position IS NOT OLD.position
  OR NEW.kind IS NOT OLD.kind OR NEW.active IS NOT OLD.active
BEGIN
    SELECT RAISE(ABORT, 'sampling: the tube is not open, its members cannot change')
    WHERE COALESCE((SELECT status FROM sampling_tube WHERE id = OLD.tube_id), '') <> 'open';
{_SQLITE_NEW_TUBE_OK}
END;
""",
    """
CREATE TRIGGER sampling_tube_insert_guard BEFORE INSERT ON sampling_tube
BEGIN
    SELECT RAISE(ABORT, 'sampling: the tube''s limit exceeds the campaign''s pool size limit')
    WHERE NEW.pool_limit > (SELECT pool_size_limit FROM campaigns_campaign
                            WHERE id = NEW.campaign_id);
END;
""",
    f"""
CREATE TRIGGER sampling_tube_update_guard BEFORE UPDATE ON sampling_tube
BEGIN
    SELECT RAISE(ABORT, 'sampling: a tube''s label, campaign, kind and limit are fixed')
    WHERE NEW.code IS NOT OLD.code OR NEW.campaign_id IS NOT OLD.campaign_id
       OR NEW.kind IS NOT OLD.kind OR NEW.pool_limit IS NOT OLD.pool_limit;
    SELECT RAISE(ABORT, 'sampling: this tube status change is not allowed')
    WHERE NEW.status IS NOT OLD.status
      AND (OLD.status || '>' || NEW.status) NOT IN ({_ALLOWED_SQL});
    SELECT RAISE(ABORT, 'sampling: the tube is not open, its members cannot change')
    WHERE NEW.member_count IS NOT OLD.member_count AND OLD.status <> 'open';
END;
""",
]

SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS sampling_sample_insert_guard;",
    "DROP TRIGGER IF EXISTS sampling_sample_update_guard;",
    "DROP TRIGGER IF EXISTS sampling_tube_insert_guard;",
    "DROP TRIGGER IF EXISTS sampling_tube_update_guard;",
]

STATEMENTS = {
    "postgresql": (POSTGRES_INSTALL, POSTGRES_UNINSTALL),
    "sqlite": (SQLITE_INSTALL, SQLITE_UNINSTALL),
}


def _run(schema_editor: Any, which: int) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise NotImplementedError(f"sampling guards are written for SQLite and PostgreSQL, not {vendor}")
    for statement in STATEMENTS[vendor][which]:
        schema_editor.execute(statement, params=None)


def install(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, 0)


def uninstall(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, 1)


class Migration(migrations.Migration):
    dependencies = [("sampling", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
