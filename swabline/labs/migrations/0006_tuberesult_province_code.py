"""Results carry their tube's province, like every hot table (a shard key at nation scale).

On SQLite adding a NOT NULL column rebuilds the table, which drops the dashboard's
trigger on it: dashboard migration 0003 installs the triggers again."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("labs", "0005_partial_result_indexes"), ("sampling", "0007_analyze_tubes")]

    operations = [
        migrations.AddField(
            model_name="tuberesult",
            name="province_code",
            field=models.CharField(default="", editable=False, max_length=4),
            preserve_default=False,
        ),
        migrations.RunSQL(
            "UPDATE labs_tuberesult SET province_code = (SELECT t.province_code FROM sampling_tube t WHERE t.id = labs_tuberesult.tube_id)",
            migrations.RunSQL.noop,
        ),
    ]
