"""Person indexes for search and bulk imports (docs/decisions/0004).

- `province_code` loses the "_like" (varchar_pattern_ops) twin that CarriesProvince's
  `db_index=True` gives it on PostgreSQL: nothing matches a province code with LIKE,
  and every index costs a bulk import. The plain index stays, declared in Meta.
- `name_folded` is collated "C" on PostgreSQL (byte order, like SQLite's default), so a
  btree on it serves a prefix search (LIKE 'x%') and ORDER BY name_folded at once.
  Changing the collation rebuilds the indexes on the column.
- (name_folded, ward) for name search: the prefix range in name order, with the
  user's wards checked on the index entries.
"""

from django.db import migrations, models


def collate_c(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'ALTER TABLE people_person ALTER COLUMN name_folded TYPE varchar(150) COLLATE "C"'
        )
        # Changing a column's type drops its statistics; the planner needs them for
        # the search (a sample: quick even on millions of rows).
        schema_editor.execute("ANALYZE people_person")


def collate_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE people_person ALTER COLUMN name_folded TYPE varchar(150) "
            'COLLATE "default"'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0005_person_indexes_without_like"),
        ("places", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="person",
            name="province_code",
            field=models.CharField(editable=False, max_length=4),
        ),
        migrations.AddIndex(
            model_name="person",
            index=models.Index(fields=["province_code"], name="person_province"),
        ),
        migrations.RunPython(collate_c, collate_default, elidable=False),
        migrations.AddIndex(
            model_name="person",
            index=models.Index(fields=["name_folded", "ward"], name="person_name_ward"),
        ),
    ]
