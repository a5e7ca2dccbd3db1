"""Cheaper writes for a synced batch (issue #4, decision 0017), the same rules:

1. `sampling_sample` and `sampling_stationevent` lose their `province_code` index:
   nothing filters them by province (they are found through their tube, person or
   event id, as decision 0015 says of every row table), and each index was one
   more write per sample and per logged event. The index is dropped by name, so
   SQLite does not rebuild the table (which would drop its triggers).
2. On PostgreSQL a sample's insert is checked once per statement, not once per
   row: `sampling_sample_insert_guard` (AFTER INSERT, with the inserted rows as a
   transition table) reads the statement's tubes `FOR SHARE` in id order, then
   refuses, with the messages of migration 0006, a row whose tube is missing or
   not open (unless a backfill inserts into a names-missing tube), whose position
   exceeds its tube's limit, or whose campaign is not its tube's. A 500-event batch
   paid 450 calls of the row trigger. Updates and deletes keep the row guard
   (`sampling_sample_guard`, now BEFORE UPDATE OR DELETE). SQLite's guards stay.

The refusal now comes after the row is written and its unique indexes checked, so
a row that breaks both a unique rule and a tube rule is refused by the unique
index first: either way an integrity error, and the statement is undone.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

UNINDEXED = (("sampling_sample", "province_code"), ("sampling_stationevent", "province_code"))

POSTGRES_INSTALL = [
    """
CREATE OR REPLACE FUNCTION sampling_sample_insert_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    backfill boolean := COALESCE(current_setting('swabline.backfill', true), '') = 'on';
BEGIN
    -- The online scan's one-call function (migration 0009) writes one sample into a
    -- tube it holds FOR UPDATE, having checked these same rules under that lock.
    IF current_setting('swabline.one_call_scan', true) = 'on' THEN
        RETURN NULL;
    END IF;
    -- As the row guard did: wait for a transaction closing one of these tubes,
    -- then check against what it committed (a new snapshot per statement).
    PERFORM 1 FROM sampling_tube WHERE id IN (SELECT tube_id FROM new_rows)
        ORDER BY id FOR SHARE;
    SELECT n.tube_id, n.position, t.id AS found, t.status, t.pool_limit,
           n.campaign_id <> t.campaign_id AS other_campaign,
           t.status = 'open' OR (t.names_missing_since IS NOT NULL AND backfill) AS writable
        INTO bad
        FROM new_rows n LEFT JOIN sampling_tube t ON t.id = n.tube_id
        WHERE t.id IS NULL
           OR NOT (t.status = 'open' OR (t.names_missing_since IS NOT NULL AND backfill))
           OR n.position > t.pool_limit
           OR n.campaign_id <> t.campaign_id
        LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF bad.found IS NULL OR NOT bad.writable THEN
        RAISE EXCEPTION 'sampling: tube % is %, its members cannot change',
            bad.tube_id, bad.status USING ERRCODE = 'check_violation';
    END IF;
    IF bad.position > bad.pool_limit THEN
        RAISE EXCEPTION 'sampling: position % exceeds the limit % of tube %',
            bad.position, bad.pool_limit, bad.tube_id USING ERRCODE = 'check_violation';
    END IF;
    RAISE EXCEPTION 'sampling: a sample belongs to its tube''s campaign'
        USING ERRCODE = 'check_violation';
END
$$;
""",
    "DROP TRIGGER IF EXISTS sampling_sample_guard ON sampling_sample;",
    """
CREATE TRIGGER sampling_sample_guard
BEFORE UPDATE OR DELETE ON sampling_sample
FOR EACH ROW EXECUTE FUNCTION sampling_sample_guard();
""",
    """
CREATE TRIGGER sampling_sample_insert_guard
AFTER INSERT ON sampling_sample REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION sampling_sample_insert_guard();
""",
]

POSTGRES_UNINSTALL = [
    "DROP TRIGGER IF EXISTS sampling_sample_insert_guard ON sampling_sample;",
    "DROP FUNCTION IF EXISTS sampling_sample_insert_guard();",
    "DROP TRIGGER IF EXISTS sampling_sample_guard ON sampling_sample;",
    """
CREATE TRIGGER sampling_sample_guard
BEFORE INSERT OR UPDATE OR DELETE ON sampling_sample
FOR EACH ROW EXECUTE FUNCTION sampling_sample_guard();
""",
]


def _index_name(schema_editor: Any, table: str, column: str) -> str:
    return schema_editor.quote_name(schema_editor._create_index_name(table, [column]))


def forwards(apps: Any, schema_editor: Any) -> None:
    for table, column in UNINDEXED:
        schema_editor.execute(
            f"DROP INDEX IF EXISTS {_index_name(schema_editor, table, column)}", params=None
        )
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_INSTALL:
            schema_editor.execute(statement, params=None)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_UNINSTALL:
            schema_editor.execute(statement, params=None)
    for table, column in UNINDEXED:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {_index_name(schema_editor, table, column)}"
            f" ON {schema_editor.quote_name(table)} ({schema_editor.quote_name(column)})",
            params=None,
        )


class Migration(migrations.Migration):
    dependencies = [("sampling", "0009_scan_counts_its_own_rows")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="sample",
                    name="province_code",
                    field=models.CharField(editable=False, max_length=4),
                ),
                migrations.AlterField(
                    model_name="stationevent",
                    name="province_code",
                    field=models.CharField(editable=False, max_length=4),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
    ]
