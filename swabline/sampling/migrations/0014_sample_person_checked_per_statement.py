"""A sample's person is checked once per statement, not by a row-level foreign key.

Django's constraint on `sampling_sample.person_id` is DEFERRABLE INITIALLY DEFERRED:
at commit PostgreSQL ran one check per sample, each locking the person's row
(FOR KEY SHARE), which writes to that row's page: a synced batch of 450 scans
dirtied 450 pages of `people_person` scattered over a million people, 2.9 ms of
the batch's 27 ms in PostgreSQL (bench/sync_cpu.py, issue #4). The same rule now
holds in three set-based places, on PostgreSQL (SQLite keeps its constraint, whose
checks are immediate and cheap, and whose table a constraint change would rebuild,
dropping its triggers):

- inserting: the statement-level guard `sampling_sample_insert_guard` (migration
  0010) refuses a row whose person does not exist; the two one-call functions, for
  which the guard steps aside, check their people themselves
  (`sampling_add_scanned` one, `sampling_play_batch` a batch's, both by primary key);
- deleting: `people_person_keep_sampled`, BEFORE DELETE on `people_person`, refuses
  to delete a person who has a sample (people are never deleted, only merged or
  pseudonymised, and the ORM's PROTECT refuses it first; this is the database's
  own word for anyone else);
- the column keeps its index (a person's samples are read by person).

As for `collected_by` (migration 0011), nothing checks under a lock that a person
being sampled is not being deleted at the same instant; nothing deletes people.
"""

from __future__ import annotations

import importlib
from typing import Any

import django.db.models.deletion
from django.db import migrations, models

scan_function = importlib.import_module("swabline.sampling.migrations.0009_scan_counts_its_own_rows")
guard = importlib.import_module("swabline.sampling.migrations.0010_batch_sync_writes_less")
batch_function = importlib.import_module("swabline.sampling.migrations.0013_batch_in_one_call")


def _replaced(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise AssertionError(f"migration 0014: {old!r} is not in the earlier definition once")
    return text.replace(old, new)


SCAN_FUNCTION = _replaced(
    scan_function.POSTGRES_INSTALL,
    "    PERFORM 1 FROM sampling_stationevent WHERE client_event_id = p_event;\n",
    "    PERFORM 1 FROM people_person WHERE id = p_person;\n"
    "    IF NOT FOUND THEN\n"
    "        RETURN NULL;\n"
    "    END IF;\n"
    "    PERFORM 1 FROM sampling_stationevent WHERE client_event_id = p_event;\n",
)
GUARD_FUNCTION = _replaced(
    guard.POSTGRES_INSTALL[0],
    "    IF NOT FOUND THEN\n        RETURN NULL;\n    END IF;\n",
    "    IF NOT FOUND THEN\n"
    "        SELECT n.person_id INTO bad FROM new_rows n\n"
    "            LEFT JOIN people_person p ON p.id = n.person_id\n"
    "            WHERE p.id IS NULL LIMIT 1;\n"
    "        IF FOUND THEN\n"
    "            RAISE EXCEPTION 'sampling: a sample names person %, who does not exist',\n"
    "                bad.person_id USING ERRCODE = 'foreign_key_violation';\n"
    "        END IF;\n"
    "        RETURN NULL;\n"
    "    END IF;\n",
)
BATCH_FUNCTION = _replaced(
    batch_function.POSTGRES_INSTALL,
    "        AND (SELECT count(DISTINCT person) = count(*) FROM a)\n",
    "        AND (SELECT count(DISTINCT person) = count(*) FROM a)\n"
    "        AND (SELECT count(*) FROM people_person WHERE id = ANY(p_persons))\n"
    "            = (SELECT count(*) FROM a)\n",
)
KEEP_SAMPLED = [
    """
CREATE OR REPLACE FUNCTION people_person_keep_sampled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM sampling_sample WHERE person_id = OLD.id) THEN
        RAISE EXCEPTION 'sampling: person % has samples and cannot be deleted', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END
$$;
""",
    """
CREATE TRIGGER people_person_keep_sampled BEFORE DELETE ON people_person
FOR EACH ROW EXECUTE FUNCTION people_person_keep_sampled();
""",
]
RESTORE = [
    "DROP TRIGGER IF EXISTS people_person_keep_sampled ON people_person;",
    "DROP FUNCTION IF EXISTS people_person_keep_sampled();",
]


def _constraint(schema_editor: Any) -> str | None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'sampling_sample'::regclass"
            " AND contype = 'f' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute"
            " WHERE attrelid = 'sampling_sample'::regclass AND attname = 'person_id')]"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    name = _constraint(schema_editor)
    if name:
        schema_editor.execute(
            f"ALTER TABLE sampling_sample DROP CONSTRAINT {schema_editor.quote_name(name)}"
        )
    for statement in [GUARD_FUNCTION, SCAN_FUNCTION, BATCH_FUNCTION, *KEEP_SAMPLED]:
        schema_editor.execute(statement, params=None)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in RESTORE:
        schema_editor.execute(statement, params=None)
    schema_editor.execute(guard.POSTGRES_INSTALL[0], params=None)
    scan_function.install(apps, schema_editor)
    batch_function.install(apps, schema_editor)
    if not _constraint(schema_editor):
        schema_editor.execute(
            "ALTER TABLE sampling_sample ADD CONSTRAINT sampling_sample_person_id_fk"
            " FOREIGN KEY (person_id) REFERENCES people_person(id)"
            " DEFERRABLE INITIALLY DEFERRED"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("sampling", "0013_batch_in_one_call"),
        ("people", "0012_person_year_ward_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="sample",
                    name="person",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="samples",
                        to="people.person",
                    ),
                )
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        )
    ]
