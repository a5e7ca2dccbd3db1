"""The counting trigger functions on PostgreSQL run without JIT and with enough
work_mem to hash their groups (`triggers.PG_SETTINGS`): reinstalled with the new
definitions. SQLite's row triggers are unchanged, but labs 0007 rebuilt the results
table on SQLite (dropping its trigger), so this comes after it and reinstalls all.
"""

from __future__ import annotations

from django.db import migrations

from swabline.dashboard import triggers


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0004_scan_counted_by_caller"),
        ("labs", "0007_release_writes_fewer_entries_no_key_checks"),
        ("sampling", "0012_tube_status_updates_in_place"),
    ]

    operations = [
        migrations.RunPython(triggers.uninstall, triggers.install, elidable=False),
        migrations.RunPython(triggers.install, triggers.uninstall, elidable=False),
    ]
