"""`manage.py subject_access PUBLIC_ID`: everything held about a person, as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from swabline.people.models import Person
from swabline.people.retention import subject_access


class Command(BaseCommand):
    help = "Print everything held about a person (subject access request), as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "public_id", help='The person\'s public id (write "-- ID" when it begins with "-").'
        )

    def handle(self, *args: Any, public_id: str, **options: Any) -> None:
        person = Person.objects.select_related("ward").filter(public_id=public_id).first()
        if person is None:
            raise CommandError(_("No person has this id."))
        report = subject_access(by=None, person=person)
        self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
