"""Writes about people: registration (alone or as a household), declarations, merges.

Every function takes keyword arguments, runs in one transaction and records an
audit event. Registering the same identity again returns the same person and adds
a declaration; nothing here ever tells a caller that *someone else* holds a phone
number or a CCCD.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.core.text import fold
from swabline.people import identity
from swabline.people.codes import new_person_code, new_qr_token
from swabline.people.enums import Sex, Symptom
from swabline.people.models import Declaration, Person, PersonMerge, new_household_key
from swabline.places.enums import Level, System
from swabline.places.models import Place


@dataclass
class PersonInput:
    """What a form, an API call or a card scan says about one person (raw values)."""

    full_name: object
    birth: object
    sex: str
    ward: Place
    phone: object = ""
    national_id: object = ""
    address: str = ""
    email: object = ""
    symptoms: list[str] = field(default_factory=list)
    contact_with_case: bool = False
    recent_travel: bool = False


@dataclass
class CleanPerson:
    full_name: str
    birth_date: dt.date | None
    birth_year: int
    sex: str
    ward: Place
    phone: str
    national_id: str | None
    address: str
    email: str
    symptoms: list[str]
    contact_with_case: bool
    recent_travel: bool


class MembersInvalid(ValidationError):
    """Some members of a household failed validation: messages per member index and field."""

    def __init__(self, by_member: dict[int, dict[str, list[str]]]) -> None:
        self.by_member = by_member
        super().__init__([m for fields in by_member.values() for ms in fields.values() for m in ms])


@dataclass
class Registration:
    person: Person
    created: bool


def clean_person(data: PersonInput) -> CleanPerson:
    """Validate every field at once; raise one ValidationError with a message per field."""
    errors: dict[str, list[Any]] = {}
    values: dict[str, Any] = {}
    for name, check in (
        ("full_name", lambda: identity.clean_name(data.full_name)),
        ("birth", lambda: identity.clean_birth(data.birth)),
        ("phone", lambda: identity.clean_phone(data.phone)),
        ("national_id", lambda: identity.clean_cccd(data.national_id)),
        ("email", lambda: identity.clean_email(data.email)),
    ):
        try:
            values[name] = check()
        except ValidationError as exc:
            errors[name] = exc.messages
    if data.sex not in Sex.values:
        errors["sex"] = [_("Choose male, female or other.")]
    if data.ward.level != Level.WARD or data.ward.system != System.CURRENT:
        errors["ward"] = [_("Choose a ward (phường/xã).")]
    unknown = set(data.symptoms) - set(Symptom.values)
    if unknown:
        errors["symptoms"] = [_("Unknown symptom.")]
    if (
        not errors
        and values["national_id"]
        and not identity.cccd_birth_year_matches(values["national_id"], values["birth"][1])
    ):
        errors["national_id"] = [_("This CCCD does not match the year of birth.")]
    if errors:
        raise ValidationError(errors)
    birth_date, birth_year = values["birth"]
    return CleanPerson(
        full_name=values["full_name"],
        birth_date=birth_date,
        birth_year=birth_year,
        sex=data.sex,
        ward=data.ward,
        phone=values["phone"],
        national_id=values["national_id"],
        address=" ".join(data.address.split())[:300],
        email=values["email"],
        symptoms=sorted(set(data.symptoms)),
        contact_with_case=data.contact_with_case,
        recent_travel=data.recent_travel,
    )


def register_person(
    *,
    data: PersonInput,
    by: Any | None,
    source: str,
    household_key: str = "",
    is_household_head: bool = False,
) -> Registration:
    """Register one person, or find them again; add a declaration either way."""
    clean = clean_person(data)
    with transaction.atomic():
        return _register_clean(
            clean, by=by, source=source, household_key=household_key, is_head=is_household_head
        )


def register_household(
    *, members: list[PersonInput], by: Any | None, source: str
) -> list[Registration]:
    """Register several people as one household; the first is its head.

    All members are validated first; a single error registers nobody. Members
    already registered keep their household unless they had none.
    """
    if not members:
        raise ValidationError(_("Add at least one person."))
    cleaned: list[CleanPerson] = []
    errors: dict[int, dict[str, list[str]]] = {}
    for index, member in enumerate(members):
        try:
            cleaned.append(clean_person(member))
        except ValidationError as exc:
            errors[index] = exc.message_dict
    if errors:
        raise MembersInvalid(errors)
    with transaction.atomic():
        head = _register_clean(
            cleaned[0], by=by, source=source, household_key=new_household_key(), is_head=True
        )
        household_key = head.person.household_key
        rest = [
            _register_clean(clean, by=by, source=source, household_key=household_key, is_head=False)
            for clean in cleaned[1:]
        ]
    return [head, *rest]


def _register_clean(
    clean: CleanPerson, *, by: Any | None, source: str, household_key: str, is_head: bool
) -> Registration:
    person, created = _find_or_create(
        clean, source=source, household_key=household_key, is_head=is_head
    )
    Declaration.objects.create(
        person=person,
        source=source,
        symptoms=clean.symptoms,
        contact_with_case=clean.contact_with_case,
        recent_travel=clean.recent_travel,
        declared_by=by if getattr(by, "is_authenticated", False) else None,
    )
    audit.record(
        by=by,
        action="person.registered" if created else "person.declared",
        subject=person,
        province_code=person.province_code,
        source=source,
    )
    return Registration(person=person, created=created)


def _find_or_create(
    clean: CleanPerson, *, source: str, household_key: str, is_head: bool
) -> tuple[Person, bool]:
    key_household = household_key
    existing = _match(clean, household_key)
    if existing is not None:
        changed = []
        if not existing.household_key and household_key:
            existing.household_key = household_key
            existing.is_household_head = is_head
            changed += ["household_key", "is_household_head"]
        if clean.email and not existing.email:
            # An address only fills an empty one: a registration form must not
            # redirect someone else's results to a new inbox.
            existing.email = clean.email
            changed.append("email")
        if changed:
            existing.save(update_fields=[*changed, "updated_at"])
        return existing, False
    national_id = clean.national_id
    claimed = ""
    if national_id and Person.objects.filter(national_id=national_id).exists():
        # The CCCD belongs to a record with another name or year: keep the claim
        # for staff, say nothing to the caller.
        national_id, claimed = None, clean.national_id or ""
    person = Person(
        full_name=clean.full_name,
        name_folded=fold(clean.full_name),
        birth_date=clean.birth_date,
        birth_year=clean.birth_year,
        sex=clean.sex,
        phone=clean.phone,
        email=clean.email,
        national_id=national_id,
        claimed_national_id=claimed,
        ward=clean.ward,
        address=clean.address,
        household_key=key_household,
        is_household_head=is_head,
        source=source,
        identity_key=identity.identity_key(
            full_name=clean.full_name,
            birth_date=clean.birth_date,
            birth_year=clean.birth_year,
            phone=clean.phone,
            ward_id=clean.ward.pk,
            household_key=key_household,
        ),
    )
    for attempt in range(3):
        try:
            with transaction.atomic():
                person.save()
        except IntegrityError:
            # A concurrent registration of the same identity won the race...
            again = _match(clean, household_key)
            if again is not None:
                return again, False
            if attempt == 2:
                raise
            # ...or the random code or token collided (23^7 codes): draw again.
            person.pk = None
            person.code, person.qr_token = new_person_code(), new_qr_token()
        else:
            return person, True
    raise AssertionError("unreachable")


def _match(clean: CleanPerson, household_key: str) -> Person | None:
    """The active person this input describes, if any (DESIGN §3 duplicate rule)."""
    active = Person.objects.select_related("ward").filter(merged_into__isnull=True)
    if clean.national_id:
        by_id = active.filter(national_id=clean.national_id).first()
        if by_id is not None and _same_person(by_id, clean):
            return by_id
    key = identity.identity_key(
        full_name=clean.full_name,
        birth_date=clean.birth_date,
        birth_year=clean.birth_year,
        phone=clean.phone,
        ward_id=clean.ward.pk,
        household_key=household_key,
    )
    return active.filter(identity_key=key).first()


def _same_person(person: Person, clean: CleanPerson) -> bool:
    return person.name_folded == fold(clean.full_name) and person.birth_year == clean.birth_year


@transaction.atomic
def merge_people(*, survivor: Person, duplicate: Person, by: Any, reason: str = "") -> Person:
    """Fold `duplicate` into `survivor`, keeping a snapshot of what it held.

    Declarations move to the survivor; the survivor's empty phone, CCCD, exact
    birth date and address are filled from the duplicate. The duplicate stays,
    marked as merged, without its identity keys.
    """
    if survivor.pk == duplicate.pk:
        raise ValidationError(_("A person cannot be merged with themselves."))
    for person in (survivor, duplicate):
        if not has_permission(by, Permission.MERGE_PEOPLE, person):
            raise PermissionDenied
        if person.merged_into_id is not None:
            raise ValidationError(_("This record was already merged."))
    snapshot = {
        f: str(getattr(duplicate, f) or "")
        for f in ("full_name", "birth_date", "birth_year", "sex", "phone", "national_id", "address",
                  "household_key", "code", "public_id")
    }  # fmt: skip
    national_id = duplicate.national_id
    Person.objects.filter(pk=duplicate.pk).update(
        merged_into=survivor, identity_key=None, national_id=None
    )
    Declaration.objects.filter(person=duplicate).update(person=survivor)
    changed = []
    for name, value in (
        ("phone", duplicate.phone),
        ("email", duplicate.email),
        ("national_id", national_id),
        ("birth_date", duplicate.birth_date),
        ("address", duplicate.address),
    ):
        if value and not getattr(survivor, name):
            setattr(survivor, name, value)
            changed.append(name)
    if changed:
        survivor.save(update_fields=[*changed, "updated_at"])
    PersonMerge.objects.create(
        survivor=survivor, merged=duplicate, merged_by=by, snapshot=snapshot, reason=reason[:300]
    )
    audit.record(
        by=by,
        action="person.merged",
        subject=survivor,
        province_code=survivor.province_code,
        merged=duplicate.public_id,
    )
    return survivor
