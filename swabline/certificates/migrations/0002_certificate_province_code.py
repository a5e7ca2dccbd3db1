"""Certificates carry their outcome's province (a shard key at nation scale)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("certificates", "0001_signing_keys_and_certificates"), ("results", "0003_outcome_fewer_indexes")]

    operations = [
        migrations.AddField(
            model_name="certificate",
            name="province_code",
            field=models.CharField(default="", editable=False, max_length=4),
            preserve_default=False,
        ),
        migrations.RunSQL(
            "UPDATE certificates_certificate SET province_code = (SELECT o.province_code FROM results_outcome o WHERE o.id = certificates_certificate.outcome_id)",
            migrations.RunSQL.noop,
        ),
    ]
