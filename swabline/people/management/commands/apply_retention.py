"""`manage.py apply_retention [--days N]`: pseudonymise people inactive for N days."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from swabline.people.retention import apply_retention, purge_import_uploads


class Command(BaseCommand):
    help = (
        "Pseudonymise the personal data of people inactive for the retention period, "
        "and delete uploaded people lists kept longer than IMPORT_UPLOAD_KEEP_HOURS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.RETENTION_DAYS)

    def handle(self, *args: Any, days: int, **options: Any) -> None:
        if days < 1:
            raise CommandError(_("The retention period is at least one day."))
        run = apply_retention(days=days)
        self.stdout.write(
            _("%(count)d people inactive since %(cutoff)s pseudonymised.")
            % {"count": run.people, "cutoff": run.cutoff.date().isoformat()}
        )
        imports = purge_import_uploads()
        self.stdout.write(
            _("Uploaded lists deleted: %(count)d (keeping time: %(hours)d h).")
            % {"count": imports, "hours": settings.IMPORT_UPLOAD_KEEP_HOURS}
        )
