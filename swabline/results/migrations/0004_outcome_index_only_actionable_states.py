"""Outcomes by campaign and state are indexed only for the states someone acts on
(positive, recall, recollect): every reader of that index asks for one of them, and
negatives, ~98 % of a release, each cost an index entry (≈ 0.6 s CPU per
1,000,000-person release, bench/lab_release_100k.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("results", "0003_outcome_fewer_indexes")]

    operations = [
        migrations.RemoveIndex(model_name="outcome", name="outcome_current_by_state"),
        migrations.AddIndex(
            model_name="outcome",
            index=models.Index(
                condition=models.Q(
                    ("current", True), ("state__in", ["positive", "recall", "recollect"])
                ),
                fields=["campaign", "state"],
                name="outcome_current_actionable",
            ),
        ),
    ]
