"""Signing keys of the certificates: `generate`, `rotate`, `retire KID`, `list`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from swabline.certificates import keys
from swabline.certificates.models import SigningKey


class Command(BaseCommand):
    help = (
        "Manage certificate signing keys. generate: a new key (the signer if none is); "
        "rotate: a new key becomes the signer, old keys stay published until they "
        "expire; retire KID: stop publishing a key; list: every key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["generate", "rotate", "retire", "list"])
        parser.add_argument("kid", nargs="?", help="the key id (hex) for retire")

    def handle(self, *args: Any, action: str, kid: str | None, **options: Any) -> None:
        if action == "generate":
            key = keys.generate(activate=not SigningKey.objects.filter(status="active").exists())
            self.stdout.write(f"generated {key.kid} ({key.status})")
        elif action == "rotate":
            key = keys.rotate()
            self.stdout.write(f"rotated: {key.kid} now signs")
        elif action == "retire":
            if not kid:
                raise CommandError("retire needs the key id")
            try:
                keys.retire(kid)
            except SigningKey.DoesNotExist as exc:
                raise CommandError(f"no key {kid}") from exc
            self.stdout.write(f"retired {kid}")
        else:
            for key in SigningKey.objects.order_by("created_at", "id"):
                self.stdout.write(
                    f"{key.kid}  {key.status:<9}  {key.not_before:%Y-%m-%d} → "
                    f"{key.not_after:%Y-%m-%d}  {key.certificates.count()} certificates"
                )
