"""Statistics for the new `names_missing_since` column on PostgreSQL.

A column added to a big table has no statistics until the next ANALYZE, and
autovacuum does not run one when no row changed: the planner then takes
`names_missing_since IS NOT NULL` for nearly every row and the command center's
names-missing alarm scans a million tubes (≈ 300 ms) instead of reading an empty
index (< 1 ms). Measured on the 10,000,000-sample bench province.
"""

from django.db import migrations


def analyze(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ANALYZE sampling_tube")


class Migration(migrations.Migration):
    dependencies = [("sampling", "0006_tube_names_missing")]
    operations = [migrations.RunPython(analyze, migrations.RunPython.noop, elidable=True)]
