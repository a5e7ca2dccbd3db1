"""The tube and sample counting triggers step aside while a writer that counts its own
rows in the same transaction says so (`triggers.ONE_CALL_SCAN`): the online
scan's one-call function (sampling migration 0009). Reinstalls every trigger from
`swabline/dashboard/triggers.py`.
"""

from __future__ import annotations

from django.db import migrations

from swabline.dashboard import triggers


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0003_counters_carry_their_province")]

    operations = [
        migrations.RunPython(triggers.uninstall, triggers.install, elidable=False),
        migrations.RunPython(triggers.install, triggers.uninstall, elidable=False),
    ]
