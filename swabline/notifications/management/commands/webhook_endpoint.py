"""`manage.py webhook_endpoint`: register, list or disable partner apps' webhook URLs.

    manage.py webhook_endpoint add PARTNER_USERNAME https://partner.example/hook
    manage.py webhook_endpoint list
    manage.py webhook_endpoint disable PARTNER_USERNAME

`add` replaces the partner's active endpoint and prints the new signing secret once.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from swabline.accounts.models import User
from swabline.notifications import endpoints
from swabline.notifications.models import WebhookEndpoint


class Command(BaseCommand):
    help = "Register, list or disable partner apps' webhook endpoints."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add")
        add.add_argument("partner")
        add.add_argument("url")
        sub.add_parser("list")
        disable = sub.add_parser("disable")
        disable.add_argument("partner")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            for e in WebhookEndpoint.objects.select_related("partner").order_by("id"):
                state = "active" if e.active else "disabled"
                self.stdout.write(f"{e.partner.username}\t{e.url}\t{state}")
            return
        partner = User.objects.filter(username=options["partner"]).first()
        if partner is None:
            raise CommandError("No such user.")
        try:
            if action == "add":
                endpoint = endpoints.register(by=None, partner=partner, url=options["url"])
                self.stdout.write(f"secret: {endpoint.secret}")
            else:
                count = endpoints.disable(by=None, partner=partner)
                self.stdout.write(f"disabled {count}")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
