"""Tube labels carry their campaign's province (a shard key at nation scale)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sampling", "0007_analyze_tubes")]

    operations = [
        migrations.AddField(
            model_name="tubelabel",
            name="province_code",
            field=models.CharField(default="", editable=False, max_length=4),
            preserve_default=False,
        ),
        migrations.RunSQL(
            "UPDATE sampling_tubelabel SET province_code = (SELECT c.province_code FROM campaigns_campaign c WHERE c.id = sampling_tubelabel.campaign_id)",
            migrations.RunSQL.noop,
        ),
    ]
