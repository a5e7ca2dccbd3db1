"""A trigram index on the folded name, so "contains" search stays fast with millions
of people on PostgreSQL. SQLite (a demo or a commune) scans, which is fine there."""

from django.db import migrations

INDEX = "people_person_name_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON people_person USING gin (name_folded gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("people", "0003_imports")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
