"""Reset a user's second factor from the shell: the way back in when the last
administrator has lost their phone."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from swabline.accounts import twofactor
from swabline.accounts.models import User


class Command(BaseCommand):
    help = "Remove a user's authenticator and backup codes; they enrol again at next login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reason", required=True, help="Why (kept in the audit log)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError("No such user.")
        removed = twofactor.reset(user=user, by=None, reason=options["reason"])
        self.stdout.write("reset" if removed else "nothing to reset")
