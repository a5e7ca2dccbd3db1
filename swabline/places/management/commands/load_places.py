"""`manage.py load_places`: load or refresh the administrative units."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from swabline.places.services import load_places


class Command(BaseCommand):
    help = (
        "Load Vietnam's current (2025) and legacy administrative units and the old→new "
        "ward mapping from the vietnamadminunits package. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = load_places(stdout=self.stderr)
        self.stdout.write(report.summary())
