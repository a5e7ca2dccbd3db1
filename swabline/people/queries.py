"""Reads of people, always scoped to the staff member asking."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q, QuerySet

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import scoped
from swabline.core.text import fold
from swabline.people.models import Person

_DIGITS = re.compile(r"\D")


def visible_people(user: Any) -> QuerySet[Person]:
    return scoped(
        Person.objects.select_related("ward"),
        user,
        Permission.VIEW_PEOPLE,
        place_path="ward__path",
    )


def search_people(user: Any, text: str) -> QuerySet[Person]:
    """People the user may see whose name (diacritics optional), phone, CCCD or code match."""
    people = visible_people(user)
    text = text.strip()
    if not text:
        return people.order_by("name_folded", "id")
    digits = _DIGITS.sub("", text)
    match = Q(name_folded__contains=fold(text)) | Q(public_id=text)
    if len(digits) >= 9 and len(digits) == len(text.replace(" ", "").lstrip("+")):
        match |= Q(national_id=digits) | Q(phone__endswith=digits.lstrip("0")[-9:])
    return people.filter(match).order_by("name_folded", "id")
