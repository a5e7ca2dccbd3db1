"""The counters carry their province, leading their keys (a shard key at nation scale);
the triggers write it from the counted row (`swabline/dashboard/triggers.py`).

The old triggers go first (their upserts name the old keys), the new ones come last,
after labs 0006, whose table rebuild on SQLite dropped the trigger on results.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.db import migrations, models

from swabline.dashboard import triggers

previous = importlib.import_module("swabline.dashboard.migrations.0002_rollup_triggers")


def drop_previous(apps: Any, schema_editor: Any) -> None:
    previous.uninstall(apps, schema_editor)


def restore_previous(apps: Any, schema_editor: Any) -> None:
    previous.install(apps, schema_editor)


FILL = (
    "UPDATE {table} SET province_code = (SELECT s.province_code FROM campaigns_site s"
    " WHERE s.id = {table}.site_id)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0002_rollup_triggers"),
        ("labs", "0006_tuberesult_province_code"),
        ("campaigns", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(drop_previous, restore_previous, elidable=False),
        migrations.RemoveConstraint(model_name="hourcount", name="dashboard_hourcount_key"),
        migrations.RemoveConstraint(model_name="sitecount", name="dashboard_sitecount_key"),
        migrations.AddField(
            model_name="hourcount",
            name="province_code",
            field=models.CharField(default="", editable=False, max_length=4),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="sitecount",
            name="province_code",
            field=models.CharField(default="", editable=False, max_length=4),
            preserve_default=False,
        ),
        migrations.RunSQL(FILL.format(table="dashboard_hourcount"), migrations.RunSQL.noop),
        migrations.RunSQL(FILL.format(table="dashboard_sitecount"), migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="hourcount",
            constraint=models.UniqueConstraint(
                fields=("province_code", "campaign", "site", "metric", "hour"),
                name="dashboard_hourcount_key",
            ),
        ),
        migrations.AddConstraint(
            model_name="sitecount",
            constraint=models.UniqueConstraint(
                fields=("province_code", "campaign", "site", "metric"),
                name="dashboard_sitecount_key",
            ),
        ),
        migrations.RunPython(triggers.install, triggers.uninstall, elidable=False),
    ]
