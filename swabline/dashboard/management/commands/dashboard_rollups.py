"""`manage.py dashboard_rollups [--campaign PUBLIC_ID] [--rebuild]`: check that the
command center's counters equal a recount from the base tables (exit 1 if not), or
rebuild them (set-based, one transaction per campaign)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from swabline.campaigns.models import Campaign
from swabline.dashboard import services


class Command(BaseCommand):
    help = "Check the dashboard's counters against a recount, or rebuild them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", help="a campaign's public id (default: all)")
        parser.add_argument("--rebuild", action="store_true", help="replace them by a recount")

    def handle(self, *args: Any, **options: Any) -> None:
        campaigns = Campaign.objects.order_by("id")
        if options["campaign"]:
            campaigns = campaigns.filter(public_id=options["campaign"])
            if not campaigns.exists():
                raise CommandError(f"no campaign {options['campaign']}")
        wrong = 0
        for campaign in campaigns:
            if options["rebuild"]:
                services.rebuild_rollups(campaign)
                self.stdout.write(f"{campaign.public_id} rebuilt")
                continue
            differences = services.differences(campaign)
            wrong += bool(differences)
            for line in differences:
                self.stdout.write(f"{campaign.public_id} {line}")
            if not differences:
                self.stdout.write(f"{campaign.public_id} ok")
        if wrong:
            raise CommandError(f"{wrong} campaign(s) differ from a recount; run with --rebuild")
