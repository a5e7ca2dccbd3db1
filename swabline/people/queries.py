"""Reads of people, always scoped to the staff member asking."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Concat, StrIndex

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import scope_filter, scoped
from swabline.core.text import fold
from swabline.people import identity
from swabline.people.codes import normalize_person_code
from swabline.people.models import Person
from swabline.places.models import Place

_TRAILING_YEAR = re.compile(r"^(?P<name>.*?)[\s,]+(?P<year>(19|20)\d\d)$")


def visible_people(user: Any, perm: Permission = Permission.VIEW_PEOPLE) -> QuerySet[Person]:
    """Active (not merged-away) people in the user's places."""
    return scoped(
        Person.objects.select_related("ward").filter(merged_into__isnull=True),
        user,
        perm,
        place_path="ward__path",
    )


def visible_ward_ids(user: Any, perm: Permission) -> list[int] | None:
    """Ids of the places whose people `user` may `perm` (None: everywhere).

    The same rule as `visible_people` (`scope_filter` on the place's path), resolved
    to ids first so that a person query filters on its own `ward_id`: PostgreSQL then
    knows how many wards are in play, instead of estimating a join on places.
    """
    q = scope_filter(user, perm, place_path="path")
    if q is None:
        return None
    return list(Place.objects.filter(q).values_list("id", flat=True))


def find_people(
    user: Any, text: str, *, limit: int = 20, perm: Permission = Permission.VIEW_PEOPLE
) -> list[Person]:
    """The first `limit` people the user may see for what staff typed or scanned.

    Same matches as `search_people`, ranked for a search box and fetched with as
    little work as possible: a QR payload, code, CCCD or phone is one unique or
    narrow index probe; for a name, people whose folded name *starts* with the text
    come first (one range of the (name, ward) index, read in order and stopped at
    `limit`), then, only if that left room, the others that contain it (the trigram
    index). Each group is in name order. No count is taken.
    """
    text = text.strip()
    wards = visible_ward_ids(user, perm)
    people = Person.objects.select_related("ward").filter(merged_into__isnull=True)
    if wards is not None:
        people = people.filter(ward_id__in=wards)
    people = people.order_by("name_folded", "id")
    if not text:
        return list(people[:limit])
    what = _what(text)
    if isinstance(what, Q):
        return list(people.filter(what)[:limit])
    folded, year = what
    if year:
        people = people.filter(birth_year=year)
    found = list(people.filter(name_folded__startswith=folded)[:limit])
    if len(found) < limit:
        one_year = year is not None and wards is not None and len(wards) <= FEW_PLACES
        found += _containing(people, folded, one_year=one_year)[: limit - len(found)]
    return found


FEW_PLACES = 8  # a ward and its hamlets: one year of their people is a few hundred rows


def _containing(people: QuerySet[Person], folded: str, *, one_year: bool) -> QuerySet[Person]:
    """People whose folded name contains `folded` but does not start with it.

    Common Vietnamese names share their trigrams with most people, so the trigram
    index costs ~30 ms a search on a million people whatever the scope. With a year
    of birth in a ward the rows to look at are already few (the (year, ward) index
    finds them: ~1/80 of the ward; for a province, reading ~1/80 of it from the heap
    cost more than the trigram index), so the test is written as STRPOS, which no index
    answers, and the order as an expression, which no index gives: PostgreSQL then
    reads those rows and sorts the matches, instead of walking the whole name index
    in order. Without a year, LIKE lets it use the trigram index.
    """
    if one_year:
        return (
            people.alias(at=StrIndex("name_folded", Value(folded)))
            .filter(at__gt=1)
            .order_by(Concat("name_folded", Value("")), "id")
        )
    return people.filter(name_folded__contains=folded).exclude(name_folded__startswith=folded)


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
    what = _what(text)
    if isinstance(what, Q):
        return what
    folded, year = what
    q = Q(name_folded__contains=folded)
    return q & Q(birth_year=year) if year else q


def _what(text: str) -> Q | tuple[str, int | None]:
    """What `text` looks for: a Q for a QR payload, a person code, a CCCD or a phone;
    else a name search as (folded name, year of birth or None)."""
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
    return fold(name), year


def possible_duplicates(person: Person, user: Any) -> QuerySet[Person]:
    """Other active records that may be this person: same name and year, or a CCCD claim."""
    q = Q(name_folded=person.name_folded, birth_year=person.birth_year)
    if person.national_id:
        q |= Q(claimed_national_id=person.national_id)
    if person.claimed_national_id:
        q |= Q(national_id=person.claimed_national_id)
    return visible_people(user, Permission.MERGE_PEOPLE).filter(q).exclude(pk=person.pk)[:20]
