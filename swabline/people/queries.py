"""Reads of people, always scoped to the staff member asking."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import scoped
from swabline.core.text import fold
from swabline.people import identity
from swabline.people.codes import normalize_person_code
from swabline.people.models import Person

_TRAILING_YEAR = re.compile(r"^(?P<name>.*?)[\s,]+(?P<year>(19|20)\d\d)$")


def visible_people(user: Any, perm: Permission = Permission.VIEW_PEOPLE) -> QuerySet[Person]:
    """Active (not merged-away) people in the user's places."""
    return scoped(
        Person.objects.select_related("ward").filter(merged_into__isnull=True),
        user,
        perm,
        place_path="ward__path",
    )


def search_people(
    user: Any, text: str, *, perm: Permission = Permission.VIEW_PEOPLE
) -> QuerySet[Person]:
    """People the user may see, found by what staff type or scan.

    Accepts a personal QR payload, the printed code (with or without the dash), a
    CCCD, a phone in any usual form, or a name without diacritics, optionally
    followed by a year of birth ("nguyen thi b 1961").
    """
    people = visible_people(user, perm)
    text = text.strip()
    if not text:
        return people.order_by("name_folded", "id")
    return people.filter(_match(text)).order_by("name_folded", "id")


def _match(text: str) -> Q:
    from swabline.people import qr  # the QR codec sits above the models layer

    try:
        decoded = qr.decode_payload(text)
    except qr.QrError:
        return Q(pk__in=[])
    if decoded is not None:
        return Q(qr_token=decoded.token)
    code = normalize_person_code(text)
    if code is not None:
        return Q(code=code)
    compact = re.sub(r"[\s.\-()]", "", text)
    if compact.lstrip("+").isdigit():
        q = Q(pk__in=[])
        if len(compact) in (11, 12):
            q |= Q(national_id=compact.zfill(12))
        with contextlib.suppress(ValidationError):
            q |= Q(phone=identity.clean_phone(compact))
        return q
    name, year = text, None
    found = _TRAILING_YEAR.match(text)
    if found:
        name, year = found.group("name"), int(found.group("year"))
    q = Q(name_folded__contains=fold(name))
    return q & Q(birth_year=year) if year else q


def possible_duplicates(person: Person, user: Any) -> QuerySet[Person]:
    """Other active records that may be this person: same name and year, or a CCCD claim."""
    q = Q(name_folded=person.name_folded, birth_year=person.birth_year)
    if person.national_id:
        q |= Q(claimed_national_id=person.national_id)
    if person.claimed_national_id:
        q |= Q(national_id=person.claimed_national_id)
    return visible_people(user, Permission.MERGE_PEOPLE).filter(q).exclude(pk=person.pk)[:20]
