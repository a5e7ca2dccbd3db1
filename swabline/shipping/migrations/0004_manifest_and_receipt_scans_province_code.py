"""Manifest lines and receipt scans carry their shipment's province (a shard key at nation scale)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shipping", "0003_names_missing_discrepancy")]

    operations = [
        migrations.AddField(
            model_name="shipmenttube",
            name="province_code",
            field=models.CharField(default="", editable=False, max_length=4),
            preserve_default=False,
        ),
        migrations.RunSQL(
            "UPDATE shipping_shipmenttube SET province_code = (SELECT s.province_code FROM shipping_shipment s WHERE s.id = shipping_shipmenttube.shipment_id)",
            migrations.RunSQL.noop,
        ),
        migrations.AddField(
            model_name="receiptscan",
            name="province_code",
            field=models.CharField(default="", editable=False, max_length=4),
            preserve_default=False,
        ),
        migrations.RunSQL(
            "UPDATE shipping_receiptscan SET province_code = (SELECT s.province_code FROM shipping_shipment s WHERE s.id = shipping_receiptscan.shipment_id)",
            migrations.RunSQL.noop,
        ),
    ]
