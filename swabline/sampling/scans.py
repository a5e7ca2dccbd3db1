"""What a station's scan box received, and who it names.

Routing, by the first characters (DESIGN §5): ``SW<digit>…`` is our person QR,
``<12 digits>|…`` a CCCD chip-card QR, 12 digits with a valid Damm check a tube
label scanned into the wrong box, 8 characters of the person-code alphabet a typed
human code, and a 22-character URL-safe token a person's public id.

`classify` needs no database; `lookup` finds the people for many scans in one
query (the sync path resolves a whole batch at once); `resolve` registers the
holder of a CCCD that no record has yet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils.functional import lazy

from swabline.core.text import fold
from swabline.people import qr
from swabline.people.cccd import CccdCard, CccdError, looks_like_cccd, parse_cccd
from swabline.people.codes import normalize_person_code
from swabline.people.enums import DeclarationSource
from swabline.people.models import Person
from swabline.people.services import PersonInput, register_person
from swabline.sampling import bulk
from swabline.sampling.codes import is_valid_damm, looks_generated, normalize_tube_code
from swabline.sampling.messages import Reason

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as StrOrPromise

    from swabline.campaigns.models import Site

_PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_MAX_MERGE_DEPTH = 5
PERSON_FIELDS = ("id", "public_id", "full_name", "birth_year", "merged_into_id")


class ScanError(Exception):
    """A scan that names nobody; `reason` is a `Reason` code, `detail` a message."""

    def __init__(self, reason: str, detail: StrOrPromise = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ScanKey:
    """The person field a scan names and its value; `card` for a CCCD scan."""

    field: str  # "qr_token" | "national_id" | "code" | "public_id"
    value: str
    card: CccdCard | None = None


@dataclass(frozen=True, slots=True)
class PersonRow:
    """The few columns of a person that capture needs."""

    id: int
    public_id: str
    full_name: str
    birth_year: int


def classify(text: str) -> ScanKey:
    """The key a scan names, or `ScanError` saying why it names nobody."""
    text = text.strip()
    if not text:
        raise ScanError(Reason.PERSON_UNKNOWN)
    try:
        found = qr.decode_payload(text)
    except qr.QrError as exc:
        reason = Reason.SCAN_KEYBOARD if exc.code == "keyboard" else Reason.SCAN_INVALID
        raise ScanError(reason, _message(exc)) from exc
    if found is not None:
        return ScanKey("qr_token", found.token)
    if looks_like_cccd(text):
        try:
            card = parse_cccd(text)
        except CccdError as exc:
            raise ScanError(Reason.SCAN_INVALID, _message(exc)) from exc
        return ScanKey("national_id", card.national_id, card)
    tube = normalize_tube_code(text)
    if looks_generated(tube) and is_valid_damm(tube):
        raise ScanError(Reason.SCAN_IS_TUBE)
    code = normalize_person_code(text)
    if code is not None:
        return ScanKey("code", code)
    if _PUBLIC_ID.match(text):
        return ScanKey("public_id", text)
    raise ScanError(Reason.PERSON_UNKNOWN)


def lookup(keys: Iterable[ScanKey]) -> dict[ScanKey, PersonRow]:
    """The active person each key names, in one query (plus one per merge hop).

    A CCCD names the record holding that ID when its folded name and birth year
    agree with the card, else a record that claimed it with the card's name and
    year; a key naming a merged-away record names the survivor.
    """
    keys = set(keys)
    by_field: dict[str, set[str]] = {}
    for key in keys:
        by_field.setdefault(key.field, set()).add(key.value)
    if not by_field:
        return {}
    conditions, params = [], []
    for name, values in by_field.items():
        columns = [name, "claimed_national_id"] if name == "national_id" else [name]
        for column in columns:
            condition, more = bulk.any_of(column, values, "text")
            conditions.append(condition)
            params += more
    names = [*PERSON_FIELDS, *by_field, "claimed_national_id", "name_folded"]
    names = list(dict.fromkeys(names))
    found_rows = bulk.select(
        f"SELECT {', '.join(names)} FROM people_person WHERE {' OR '.join(conditions)}",  # noqa: S608
        params,
    )
    rows = [dict(zip(names, row, strict=True)) for row in found_rows]
    survivors = _survivors(rows)
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        for name in by_field:
            index.setdefault((name, row[name]), row)
    found: dict[ScanKey, PersonRow] = {}
    for key in keys:
        match = index.get((key.field, key.value)) if key.card is None else _card_match(key, rows)
        if match is not None:
            found[key] = survivors.get(match["id"]) or _person_row(match)
    return found


def resolve(key: ScanKey, *, by: Any, site: Site) -> PersonRow:
    """The person `key` names; a CCCD nobody holds yet registers its holder in the
    site's ward (source: CCCD scan)."""
    found = lookup([key]).get(key)
    if found is not None:
        return found
    if key.card is None:
        raise ScanError(Reason.PERSON_UNKNOWN)
    card = key.card
    data = PersonInput(
        full_name=card.full_name,
        birth=card.birth_date,
        sex=card.sex,
        ward=site.ward,
        national_id=card.national_id,
        address=card.address,
    )
    try:
        person = register_person(data=data, by=by, source=DeclarationSource.CCCD).person
    except ValidationError as exc:
        raise ScanError(Reason.SCAN_INVALID, " ".join(exc.messages)) from exc
    return PersonRow(person.pk, person.public_id, person.full_name, person.birth_year)


def _card_match(key: ScanKey, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    assert key.card is not None
    name, year = fold(key.card.full_name), key.card.birth_year
    same = [r for r in rows if r["name_folded"] == name and r["birth_year"] == year]
    for column in ("national_id", "claimed_national_id"):
        for row in same:
            if row[column] == key.value and row["merged_into_id"] is None:
                return row
    return None


def _survivors(rows: list[dict[str, Any]]) -> dict[int, PersonRow]:
    """For rows merged into another record: the record that survives, by merged id."""
    pending = {r["id"]: r["merged_into_id"] for r in rows if r["merged_into_id"]}
    result: dict[int, PersonRow] = {}
    for _ in range(_MAX_MERGE_DEPTH):
        if not pending:
            break
        targets = {
            r["id"]: r
            for r in Person.objects.filter(id__in=set(pending.values())).values(*PERSON_FIELDS)
        }
        still: dict[int, int] = {}
        for merged, target in pending.items():
            row = targets[target]
            if row["merged_into_id"]:
                still[merged] = row["merged_into_id"]
            else:
                result[merged] = _person_row(row)
        pending = still
    return result


def _person_row(row: dict[str, Any]) -> PersonRow:
    return PersonRow(row["id"], row["public_id"], row["full_name"], row["birth_year"])


def _message(exc: ValidationError) -> StrOrPromise:
    """The error's message, still lazy: rendered in the language of whoever reads it."""
    inner = exc.error_list[0]
    if not inner.params:
        return inner.message
    return _interpolate(inner.message, inner.params)


_interpolate = lazy(lambda message, params: str(message) % params, str)
