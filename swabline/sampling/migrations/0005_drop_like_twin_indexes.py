"""Drop the `varchar_pattern_ops` ("_like") twin indexes of the sampling tables.

On PostgreSQL Django gives every indexed or unique `CharField` a second index for
`LIKE 'prefix%'`. Nothing filters these columns with LIKE (the province codes,
tube and label codes, device ids are matched whole), and each index is one more
write per scan and per synced event (docs/performance.md). The plain and unique
indexes stay. `IF EXISTS`: a later AlterField that drops them finds them gone, and
Django drops them the same way.

SQLite has no such indexes: nothing to do there.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

TWINS = (
    ("sampling_sample", "province_code"),
    ("sampling_stationevent", "province_code"),
    ("sampling_tube", "province_code"),
    ("sampling_tube", "code"),
    ("sampling_tubelabel", "code"),
    ("sampling_devicesync", "device_id"),
)


def _name(schema_editor: Any, table: str, column: str) -> str:
    return schema_editor._create_index_name(table, [column], suffix="_like")


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in TWINS:
        name = schema_editor.quote_name(_name(schema_editor, table, column))
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}", params=None)


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in TWINS:
        name = schema_editor.quote_name(_name(schema_editor, table, column))
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {schema_editor.quote_name(table)}"
            f" ({schema_editor.quote_name(column)} varchar_pattern_ops)",
            params=None,
        )


class Migration(migrations.Migration):
    dependencies = [("sampling", "0004_scan_in_one_call")]

    operations = [migrations.RunPython(drop, create, elidable=False)]
