"""Delete look-up counters whose window has passed (run daily, e.g. from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from swabline.lookup import services


class Command(BaseCommand):
    help = "Delete look-up failure counters whose window has passed."

    def handle(self, *args: Any, **options: Any) -> None:
        cleared = services.purge_expired()
        self.stdout.write(f"{cleared} expired look-up counters deleted")
