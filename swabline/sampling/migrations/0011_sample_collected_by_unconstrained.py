"""A sample's `collected_by` loses its foreign-key constraint on PostgreSQL.

Django's constraint is DEFERRABLE INITIALLY DEFERRED: at commit PostgreSQL ran one
check per sample, locking the sampler's account row (FOR KEY SHARE) for every scan
and for each of a synced batch's 450 samples. Accounts are deactivated, never
deleted, and the ORM's PROTECT still refuses to delete one that collected samples.
The tube and person constraints stay. On SQLite nothing changes in the database (a
constraint change there rebuilds the table, which would drop its triggers); its
checks are immediate and cheap.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _constraint(schema_editor: Any) -> str | None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'sampling_sample'::regclass"
            " AND contype = 'f' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute"
            " WHERE attrelid = 'sampling_sample'::regclass AND attname = 'collected_by_id')]"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def drop_constraint(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    name = _constraint(schema_editor)
    if name:
        schema_editor.execute(
            f"ALTER TABLE sampling_sample DROP CONSTRAINT {schema_editor.quote_name(name)}"
        )


def add_constraint(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql" or _constraint(schema_editor):
        return
    schema_editor.execute(
        "ALTER TABLE sampling_sample ADD CONSTRAINT sampling_sample_collected_by_id_fk"
        " FOREIGN KEY (collected_by_id) REFERENCES accounts_user(id)"
        " DEFERRABLE INITIALLY DEFERRED"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("sampling", "0010_batch_sync_writes_less"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="sample",
                    name="collected_by",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                )
            ],
            database_operations=[migrations.RunPython(drop_constraint, add_constraint)],
        )
    ]
