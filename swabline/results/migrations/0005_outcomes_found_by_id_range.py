"""A release's outcomes are found by a range of the primary key, not by an index.

`Release.outcomes_after_id` (set by `logic.decide` before it writes) bounds the
release's rows from below; the notifications outbox, the one reader, selects
`id > outcomes_after_id AND release_id = …`. The index on `release_id` took a
million entries a release for that one read (decision 0016). It is dropped by name,
so SQLite does not rebuild the table (which would drop its counting triggers).
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

TABLE, COLUMN = "results_outcome", "release_id"


def _index(schema_editor: Any) -> str:
    return schema_editor.quote_name(schema_editor._create_index_name(TABLE, [COLUMN]))


def drop_index(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(f"DROP INDEX IF EXISTS {_index(schema_editor)}", params=None)


def create_index(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {_index(schema_editor)} ON {TABLE} ({COLUMN})", params=None
    )


class Migration(migrations.Migration):
    dependencies = [("results", "0004_outcome_index_only_actionable_states")]

    operations = [
        migrations.AddField(
            model_name="release",
            name="outcomes_after_id",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="outcome",
                    name="release",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="outcomes",
                        to="results.release",
                    ),
                )
            ],
            database_operations=[migrations.RunPython(drop_index, create_index)],
        ),
    ]
