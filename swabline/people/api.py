"""People over the JSON API: public (and partner) registration; staff search, get, merge."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError

from swabline.accounts.auth import TokenAuth, user_for_token
from swabline.accounts.enums import ApiScope, Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission
from swabline.audit import services as audit
from swabline.core.ratelimit import client_ip, hit
from swabline.people import qr, queries
from swabline.people.enums import DeclarationSource, Sex, Symptom
from swabline.people.models import Person
from swabline.people.services import MembersInvalid, PersonInput, merge_people, register_household
from swabline.places.enums import Level, System
from swabline.places.models import Place

router = Router(tags=["people"])


class MemberIn(Schema):
    full_name: str
    birth: str
    sex: Sex
    phone: str = ""
    national_id: str = ""
    symptoms: list[Symptom] = []
    contact_with_case: bool = False
    recent_travel: bool = False


class RegistrationIn(Schema):
    members: list[MemberIn]
    phone: str
    ward_code: str
    address: str = ""


class RegisteredOut(Schema):
    public_id: str
    code: str
    full_name: str
    birth_year: int
    qr_payload: str


class RegistrationOut(Schema):
    people: list[RegisteredOut]


class FieldError(Schema):
    member: int
    field: str
    message: str


class InvalidOut(Schema):
    detail: str
    errors: list[FieldError]


class PersonOut(Schema):
    public_id: str
    code: str
    full_name: str
    birth_date: dt.date | None
    birth_year: int
    sex: str
    phone: str
    national_id: str | None
    ward_code: str
    ward_name: str
    address: str
    household_key: str


class MergeIn(Schema):
    duplicate: str
    reason: str = ""


class SearchIn(Schema):
    q: str = ""
    limit: int = 20


def _person_out(person: Person) -> PersonOut:
    return PersonOut(
        public_id=person.public_id,
        code=person.display_code,
        full_name=person.full_name,
        birth_date=person.birth_date,
        birth_year=person.birth_year,
        sex=person.sex,
        phone=person.phone,
        national_id=person.national_id,
        ward_code=person.ward.code,
        ward_name=person.ward.name,
        address=person.address,
        household_key=person.household_key,
    )


def _partner(request: HttpRequest) -> object | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = user_for_token(header.removeprefix("Bearer ").strip())
    if user is None or not has_permission(user, Permission.REGISTER_PEOPLE):
        raise HttpError(401, _("This token may not register people."))
    refusal = REGISTRATION_TOKEN.refusal(user.api_token, "POST")
    if refusal:
        raise HttpError(403, refusal)
    return user


# The operation is public; a token that comes with it needs one of these scopes.
REGISTRATION_TOKEN = TokenAuth(ApiScope.STATION, ApiScope.PARTNER)


@router.post(
    "/registrations",
    response={201: RegistrationOut, 422: InvalidOut},
    auth=None,
    url_name="create_registration",
    summary="Register a person or a household (public; partner apps send their token)",
)
def create_registration(request: HttpRequest, payload: RegistrationIn) -> Status:
    """Same rules as the public form. Anonymous callers are rate-limited per address;
    a partner app's token lifts the limit and marks the source as the partner."""
    partner = _partner(request)
    if partner is None and not hit(
        f"register:{client_ip(request)}",
        limit=settings.REGISTRATION_RATE_LIMIT,
        window_seconds=3600,
    ):
        raise HttpError(429, _("Too many registrations from this address. Try again later."))
    ward = Place.objects.filter(
        system=System.CURRENT, level=Level.WARD, code=payload.ward_code
    ).first()
    if ward is None:
        raise HttpError(422, _("Unknown ward code."))
    members = [
        PersonInput(
            full_name=m.full_name,
            birth=m.birth,
            sex=m.sex,
            ward=ward,
            phone=m.phone or payload.phone,
            national_id=m.national_id,
            address=payload.address,
            symptoms=[str(s) for s in m.symptoms],
            contact_with_case=m.contact_with_case,
            recent_travel=m.recent_travel,
        )
        for m in payload.members
    ]
    source = DeclarationSource.PARTNER if partner is not None else DeclarationSource.SELF
    try:
        registrations = register_household(members=members, by=partner, source=source)
    except MembersInvalid as exc:
        errors = [
            FieldError(member=index, field=field, message=str(message))
            for index, fields in exc.by_member.items()
            for field, messages in fields.items()
            for message in messages
        ]
        return Status(422, InvalidOut(detail=_("Some fields are not valid."), errors=errors))
    except ValidationError as exc:
        raise HttpError(422, " ".join(exc.messages)) from exc
    return Status(
        201,
        RegistrationOut(
            people=[
                RegisteredOut(
                    public_id=r.person.public_id,
                    code=r.person.display_code,
                    full_name=r.person.full_name,
                    birth_year=r.person.birth_year,
                    qr_payload=qr.encode_payload(r.person),
                )
                for r in registrations
            ]
        ),
    )


@router.get(
    "/people", response=list[PersonOut], url_name="search_people", summary="Search people (scoped)"
)
def search_people(request: HttpRequest, filters: Query[SearchIn]) -> list[PersonOut]:
    if not has_permission(request.user, Permission.VIEW_PEOPLE):
        raise HttpError(403, _("Your role does not allow this."))
    found = queries.find_people(request.user, filters.q, limit=max(1, min(filters.limit, 100)))
    return [_person_out(p) for p in found]


@router.get(
    "/people/{public_id}", response=PersonOut, url_name="get_person", summary="One person (scoped)"
)
def get_person(request: HttpRequest, public_id: str) -> PersonOut:
    if not has_permission(request.user, Permission.VIEW_PEOPLE):
        raise HttpError(403, _("Your role does not allow this."))
    try:
        person = get_scoped_or_404(
            queries.visible_people(request.user),
            request.user,
            Permission.VIEW_PEOPLE,
            public_id=public_id,
        )
    except Http404 as exc:
        raise HttpError(404, _("Not found.")) from exc
    audit.record_view(
        by=request.user, action="people.viewed", subject=person, province_code=person.province_code
    )
    return _person_out(person)


@router.post(
    "/people/{public_id}/merge",
    response=PersonOut,
    url_name="merge_person",
    summary="Merge a duplicate into this person",
)
def merge_person(request: HttpRequest, public_id: str, payload: MergeIn) -> PersonOut:
    if not has_permission(request.user, Permission.MERGE_PEOPLE):
        raise HttpError(403, _("Your role does not allow this."))
    visible = queries.visible_people(request.user, Permission.MERGE_PEOPLE)
    try:
        survivor = get_scoped_or_404(
            visible, request.user, Permission.MERGE_PEOPLE, public_id=public_id
        )
        duplicate = get_scoped_or_404(
            visible, request.user, Permission.MERGE_PEOPLE, public_id=payload.duplicate
        )
        return _person_out(
            merge_people(
                survivor=survivor, duplicate=duplicate, by=request.user, reason=payload.reason
            )
        )
    except Http404 as exc:
        raise HttpError(404, _("Not found.")) from exc
    except PermissionDenied as exc:
        raise HttpError(403, _("Your role does not allow this.")) from exc
    except ValidationError as exc:
        raise HttpError(422, " ".join(exc.messages)) from exc
