"""A tube's status changes in place (a HOT update on PostgreSQL): no index names
`status`, and each page of `sampling_tube` keeps half its room free.

A release moves 100,000 tubes `resulted → released` in one UPDATE. With `status` in
`tube_campaign_site_status` every moved row wrote a new entry in each of the tube's
six indexes; with no indexed column changing, PostgreSQL rewrites the row on its own
page and touches no index, provided the page has room. The tubes of one page were
opened together and move together (a shipment, a run, a release), and an update
cannot reuse room its own transaction freed, so a page needs room for all its rows
at once: fillfactor 50 (the table is twice as big, ≈ 54 MB per 100,000 tubes, small
beside samples and people). The old versions are pruned at the next visit of the
page, before the next move. Measured on bench/lab_release_100k.py: the tube UPDATE
1.4 s → 0.7 s (all 100,000 updates HOT; 45 % at fillfactor 70, none at 100).

Existing rows get the free room only when they are rewritten; new tubes get it.
The alarm drill-downs (`campaign, site, status`) now read the campaign's site's
tubes through (`campaign`, `site`) and filter by status.
"""

from django.db import migrations, models


def set_fillfactor(apps, schema_editor, value=50):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE sampling_tube SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE sampling_tube RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("sampling", "0011_sample_collected_by_unconstrained")]

    operations = [
        migrations.RemoveIndex(model_name="tube", name="tube_campaign_site_status"),
        migrations.AddIndex(
            model_name="tube",
            index=models.Index(fields=["campaign", "site"], name="tube_campaign_site"),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False),
    ]
