"""A tube received at a lab with nobody in it (a paper tube whose names are not yet
entered) is *names missing*: `Tube.names_missing_since`. The guards of migration
0002 are replaced by versions that know it:

1. A sample may be inserted into a names-missing tube that is no longer open (the
   backfill of its paper list). On PostgreSQL only inside a transaction where the
   backfill service set `swabline.backfill` to `on` (`set_config(..., true)`, local
   to the transaction), so no other path can; SQLite has no session settings, so
   there the rule is "names-missing tubes only". Changing or removing a member of a
   closed tube stays refused everywhere.
2. A names-missing tube's member count may change although it is not open.
3. A tube becomes names-missing only when it is made (at receipt), never later;
   the mark is cleared only together with at least one member.
4. A names-missing tube's status never becomes `released`: its result waits for
   its names (`results.logic.mark_released` skips it too).

Everything else is as in 0002 (same trigger names, same messages).
"""

from __future__ import annotations

import importlib
from typing import Any

from django.db import migrations, models

_guards = importlib.import_module("swabline.sampling.migrations.0002_guards")
_ALLOWED_SQL = _guards._ALLOWED_SQL

POSTGRES_INSTALL = [
    """
CREATE OR REPLACE FUNCTION sampling_sample_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t_status varchar;
    t_limit integer;
    t_campaign bigint;
    t_missing timestamptz;
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
    SELECT status, pool_limit, campaign_id, names_missing_since
        INTO t_status, t_limit, t_campaign, t_missing
        FROM sampling_tube WHERE id = NEW.tube_id FOR SHARE;
    IF t_status IS DISTINCT FROM 'open' AND NOT (
        TG_OP = 'INSERT' AND t_missing IS NOT NULL
        AND COALESCE(current_setting('swabline.backfill', true), '') = 'on'
    ) THEN
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
        IF NEW.names_missing_since IS NOT NULL AND NEW.status = 'released' THEN
            RAISE EXCEPTION 'sampling: a names-missing tube cannot be released'
                USING ERRCODE = 'check_violation';
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
    IF NEW.member_count <> OLD.member_count AND OLD.status <> 'open'
       AND OLD.names_missing_since IS NULL THEN
        RAISE EXCEPTION 'sampling: tube % is %, its members cannot change', OLD.id, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.names_missing_since IS NOT NULL AND OLD.names_missing_since IS DISTINCT FROM
       NEW.names_missing_since THEN
        RAISE EXCEPTION 'sampling: a tube is marked names-missing only when the lab receives it'
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.names_missing_since IS NOT NULL AND NEW.names_missing_since IS NULL
       AND NEW.member_count < 1 THEN
        RAISE EXCEPTION 'sampling: a names-missing tube needs its names first'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.names_missing_since IS NOT NULL AND NEW.status = 'released' THEN
        RAISE EXCEPTION 'sampling: a names-missing tube cannot be released'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
""",
]

_SQLITE_NEW_TUBE_OK = """
    SELECT RAISE(ABORT, 'sampling: the position exceeds the tube''s limit')
    WHERE NEW.position > (SELECT pool_limit FROM sampling_tube WHERE id = NEW.tube_id);
    SELECT RAISE(ABORT, 'sampling: a sample belongs to its tube''s campaign')
    WHERE NEW.campaign_id <> (SELECT campaign_id FROM sampling_tube WHERE id = NEW.tube_id);
"""
_SQLITE_NOT_OPEN = """
    SELECT RAISE(ABORT, 'sampling: the tube is not open, its members cannot change')
    WHERE COALESCE((SELECT status FROM sampling_tube WHERE id = NEW.tube_id), '') <> 'open'
"""

SQLITE_INSTALL = [
    "DROP TRIGGER IF EXISTS sampling_sample_insert_guard;",
    "DROP TRIGGER IF EXISTS sampling_sample_update_guard;",
    "DROP TRIGGER IF EXISTS sampling_tube_insert_guard;",
    "DROP TRIGGER IF EXISTS sampling_tube_update_guard;",
    f"""
CREATE TRIGGER sampling_sample_insert_guard BEFORE INSERT ON sampling_sample
BEGIN
{_SQLITE_NOT_OPEN}
      AND (SELECT names_missing_since FROM sampling_tube WHERE id = NEW.tube_id) IS NULL;
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
{_SQLITE_NOT_OPEN};
{_SQLITE_NEW_TUBE_OK}
END;
""",
    """
CREATE TRIGGER sampling_tube_insert_guard BEFORE INSERT ON sampling_tube
BEGIN
    SELECT RAISE(ABORT, 'sampling: the tube''s limit exceeds the campaign''s pool size limit')
    WHERE NEW.pool_limit > (SELECT pool_size_limit FROM campaigns_campaign
                            WHERE id = NEW.campaign_id);
    SELECT RAISE(ABORT, 'sampling: a names-missing tube cannot be released')
    WHERE NEW.names_missing_since IS NOT NULL AND NEW.status = 'released';
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
    WHERE NEW.member_count IS NOT OLD.member_count AND OLD.status <> 'open'
      AND OLD.names_missing_since IS NULL;
    SELECT RAISE(ABORT, 'sampling: a tube is marked names-missing only when the lab receives it')
    WHERE NEW.names_missing_since IS NOT NULL
      AND NEW.names_missing_since IS NOT OLD.names_missing_since;
    SELECT RAISE(ABORT, 'sampling: a names-missing tube needs its names first')
    WHERE OLD.names_missing_since IS NOT NULL AND NEW.names_missing_since IS NULL
      AND NEW.member_count < 1;
    SELECT RAISE(ABORT, 'sampling: a names-missing tube cannot be released')
    WHERE NEW.names_missing_since IS NOT NULL AND NEW.status = 'released';
END;
""",
]

STATEMENTS = {"postgresql": POSTGRES_INSTALL, "sqlite": SQLITE_INSTALL}


def install(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise NotImplementedError(f"sampling guards are written for SQLite and PostgreSQL, not {vendor}")
    for statement in STATEMENTS[vendor]:
        schema_editor.execute(statement, params=None)


def uninstall(apps: Any, schema_editor: Any) -> None:
    """Back to the guards of 0002."""
    _guards.uninstall(apps, schema_editor)
    _guards.install(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("sampling", "0005_drop_like_twin_indexes")]

    operations = [
        migrations.AddField(
            model_name="tube",
            name="names_missing_since",
            field=models.DateTimeField(
                blank=True, db_index=True, null=True, verbose_name="names missing since"
            ),
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
