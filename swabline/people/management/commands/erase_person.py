"""`manage.py erase_person PUBLIC_ID --reason TEXT`: erasure on the person's request."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from swabline.people.models import Person
from swabline.people.retention import erase_person


class Command(BaseCommand):
    help = "Strip a person's personal data on their request (kept: counts and results)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "public_id", help='The person\'s public id (write "-- ID" when it begins with "-").'
        )
        parser.add_argument("--reason", required=True)

    def handle(self, *args: Any, public_id: str, reason: str, **options: Any) -> None:
        person = Person.objects.filter(public_id=public_id).first()
        if person is None:
            raise CommandError(_("No person has this id."))
        if person.pseudonymised_at is not None:
            self.stdout.write(_("Already erased."))
            return
        erase_person(by=None, person=person, reason=reason)
        self.stdout.write(_("Erased."))
