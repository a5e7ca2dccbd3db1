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
        room = limit - len(found)
        if year is not None:
            ids = list(_containing_in_year(people, folded)[:room])
            by_id = {p.pk: p for p in people.filter(pk__in=ids)} if ids else {}
            found += [by_id[pk] for pk in ids if pk in by_id]
        else:
            found += _containing(people, folded)[:room]
    return found


def _containing(people: QuerySet[Person], folded: str) -> QuerySet[Person]:
    """People whose folded name contains `folded` but does not start with it, through
    the trigram index (LIKE). Common Vietnamese names share their trigrams with most
    people, so this costs ~30 ms a search on a million people whatever the scope."""
    return people.filter(name_folded__contains=folded).exclude(name_folded__startswith=folded)


def _containing_in_year(people: QuerySet[Person], folded: str) -> QuerySet[Person, int]:
    """Ids, in name order, of the people of `people` (already narrowed to one year of
    birth) whose folded name contains `folded` after its start.

    Everything this reads is in the index (birth_year, ward, name_folded, id) of the
    active people: PostgreSQL scans that year's entries for the scope (~1/80 of it)
    and tests the name on the entries themselves, without reading the table
    (an index-only scan: 1.8 ms for a province of 1,000,000 against 20-40 ms through
    the trigram index and 56 ms reading that year's rows from the table). The test is
    written as STRPOS, which no index answers, and the order as an expression, which
    no index gives, so the planner does not walk the whole name index in order
    instead. The caller then fetches the few rows by id. Index-only needs the
    table's visibility map, which autovacuum keeps (docs/performance.md).
    """
    return (
        people.alias(at=StrIndex("name_folded", Value(folded)))
        .filter(at__gt=1)
        .order_by(Concat("name_folded", Value("")), "id")
        .values_list("id", flat=True)
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
