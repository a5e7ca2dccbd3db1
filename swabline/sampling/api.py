"""The sampling station's API, mounted at /api/v1/station.

Stations authenticate with a bearer token, or with the session cookie when the
station web app is served from the same origin (then CSRF applies to POSTs).

- POST /events: a batch of capture events; one result per event (its fate).
- POST /people: quick registration, idempotent on the client's id.
- GET /sites: the sites the user may capture at.
- GET /tubes/{code}: one tube and its people.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.security import django_auth
from pydantic import BaseModel

from swabline.accounts.auth import TokenAuth
from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.campaigns.enums import TestType
from swabline.campaigns.models import Site
from swabline.people import qr
from swabline.people.enums import Sex, Symptom
from swabline.people.services import PersonInput
from swabline.places.enums import Level, System
from swabline.places.models import Place
from swabline.sampling import queries, services, sync
from swabline.sampling.codes import display_name, normalize_tube_code
from swabline.sampling.sync import EventResult

router = Router(tags=["station"], auth=[TokenAuth(), django_auth])

EventTypeIn = Literal["open_tube", "add_person", "remove_last", "close_tube", "void_tube"]


class Plain(BaseModel):
    """The station's per-scan schemas are plain pydantic models, not ninja Schemas:
    a ninja Schema validates through a Python getter per field (built for Django
    objects), which cost about a fifth of a scan request's CPU. These hold no Django
    objects, so pydantic's own validation does the same checks."""


class EventIn(Plain):
    id: uuid.UUID = Field(
        ...,
        description=(
            "The station's own id for the event; a replay with the same id is applied"
            " once. Any UUID is accepted; time-ordered ones (version 7, as the station"
            " makes them) keep the server's event-id indexes fast."
        ),
    )
    type: EventTypeIn
    at: dt.datetime
    tube: str = Field("", max_length=64)
    scan: str = Field("", max_length=2000)
    person: str = Field("", max_length=64)
    kind: str = Field("", max_length=20)
    override: bool = False
    reason: str = Field("", max_length=200)
    seq: int | None = None
    resolves: uuid.UUID | None = None


class EventsIn(Plain):
    device_id: str = Field(..., min_length=1, max_length=64)
    site: uuid.UUID
    events: list[EventIn] = Field(..., max_length=sync.MAX_EVENTS)


class PersonOut(Plain):
    public_id: str
    display: str
    birth_year: int


class TubeStateOut(Plain):
    code: str
    count: int
    limit: int
    status: str


class ResultOut(Plain):
    id: uuid.UUID
    fate: str
    reason: str
    message: str
    person: PersonOut | None
    tube: TubeStateOut | None
    first_fate: str | None = None
    first_reason: str | None = None


class EventsOut(Plain):
    results: list[ResultOut]
    server_time: dt.datetime


class Detail(Schema):
    detail: str


class RegisterIn(Schema):
    id: uuid.UUID
    site: uuid.UUID
    device_id: str = Field("", max_length=64)
    full_name: str = Field(..., max_length=200)
    birth: str = Field(..., max_length=20)
    sex: Sex
    phone: str = Field("", max_length=30)
    national_id: str = Field("", max_length=20)
    address: str = Field("", max_length=300)
    ward_code: str = Field("", max_length=10)
    symptoms: list[Symptom] = []
    contact_with_case: bool = False
    recent_travel: bool = False


class RegisteredOut(Schema):
    public_id: str
    code: str
    display: str
    birth_year: int
    qr_payload: str
    created: bool


class FieldError(Schema):
    field: str
    message: str


class InvalidOut(Schema):
    detail: str
    errors: list[FieldError]


class WardOut(Schema):
    code: str
    name: str


class CampaignOut(Schema):
    public_id: uuid.UUID
    name: str
    test_type: str
    pooled: bool


class SiteOut(Schema):
    public_id: uuid.UUID
    name: str
    address: str
    ward: WardOut
    campaign: CampaignOut
    pool_limit: int


class MemberOut(Schema):
    position: int
    public_id: str
    display: str
    birth_year: int
    kind: str
    collected_at: dt.datetime


class TubeOut(Schema):
    code: str
    kind: str
    status: str
    count: int
    limit: int
    site: uuid.UUID
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    members: list[MemberOut]


@router.post(
    "/events",
    response={200: EventsOut, 403: Detail, 404: Detail},
    url_name="station_events",
    summary="Apply a batch of capture events (idempotent per event id)",
)
def post_events(request: HttpRequest, payload: EventsIn) -> EventsOut:
    """Applies each event once, in the station's order (`seq` when every event has
    one, else `at`), and answers each event's fate: applied, duplicate (already
    done; a replayed id also gives `first_fate`/`first_reason`) or conflict with a
    reason code. Conflicts `tube_unknown` and `retry` are not recorded: send them
    again later. 403 when the user may not capture at the site."""
    site = _capture_site(request, payload.site)
    events = [
        sync.EventIn(
            id=e.id, type=e.type, at=e.at, tube=e.tube, scan=e.scan, person=e.person,
            kind=e.kind, override=e.override, reason=e.reason, seq=e.seq, resolves=e.resolves,
        )
        for e in payload.events
    ]  # fmt: skip
    results = services.apply_events(
        by=request.user, site=site, device_id=payload.device_id, events=events
    )
    return EventsOut(results=[_result_out(r) for r in results], server_time=timezone.now())


@router.post(
    "/people",
    response={200: RegisteredOut, 403: Detail, 404: Detail, 422: InvalidOut},
    url_name="station_register",
    summary="Quick registration at a station (idempotent per request id)",
)
def post_person(request: HttpRequest, payload: RegisterIn) -> Status[RegisteredOut | InvalidOut]:
    """Registers someone on the spot, in the site's ward unless `ward_code` names
    another; the same `id` sent again returns the same person."""
    site = _site(payload.site)
    ward = site.ward if not payload.ward_code else _ward(payload.ward_code)
    data = PersonInput(
        full_name=payload.full_name,
        birth=payload.birth,
        sex=payload.sex,
        ward=ward,
        phone=payload.phone,
        national_id=payload.national_id,
        address=payload.address,
        symptoms=[str(s) for s in payload.symptoms],
        contact_with_case=payload.contact_with_case,
        recent_travel=payload.recent_travel,
    )
    try:
        done = services.quick_register(
            by=request.user, site=site, client_id=payload.id, data=data, device_id=payload.device_id
        )
    except PermissionDenied as exc:
        raise HttpError(403, str(exc) or _("Your role does not allow this.")) from exc
    except ValidationError as exc:
        return Status(
            422, InvalidOut(detail=_("Some fields are not valid."), errors=_field_errors(exc))
        )
    person = done.person
    registered = RegisteredOut(
        public_id=person.public_id,
        code=person.display_code,
        display=display_name(person.full_name),
        birth_year=person.birth_year,
        qr_payload=qr.encode_payload(person),
        created=done.created,
    )
    return Status(200, registered)


@router.get(
    "/sites",
    response=list[SiteOut],
    url_name="station_sites",
    summary="Sites where the user may capture samples",
)
def get_sites(request: HttpRequest) -> list[SiteOut]:
    return [
        SiteOut(
            public_id=s.public_id,
            name=s.name,
            address=s.address,
            ward=WardOut(code=s.ward.code, name=s.ward.name),
            campaign=CampaignOut(
                public_id=s.campaign.public_id,
                name=s.campaign.name,
                test_type=s.campaign.test_type,
                pooled=s.campaign.test_type == TestType.RT_PCR_POOLED,
            ),
            pool_limit=s.campaign.pool_size_limit,
        )
        for s in queries.capture_sites(request.user)
    ]


@router.get(
    "/tubes/{code}",
    response={200: TubeOut, 404: Detail},
    url_name="station_tube",
    summary="One tube and its people (scoped)",
)
def get_tube(request: HttpRequest, code: str) -> TubeOut:
    try:
        tube = queries.get_tube(request.user, normalize_tube_code(code))
    except Http404 as exc:
        raise HttpError(404, _("Not found.")) from exc
    return TubeOut(
        code=tube.code,
        kind=tube.kind,
        status=tube.status,
        count=tube.member_count,
        limit=tube.pool_limit,
        site=tube.site.public_id,
        opened_at=tube.opened_at,
        closed_at=tube.closed_at,
        members=[
            MemberOut(
                position=s.position,
                public_id=s.person.public_id,
                display=display_name(s.person.full_name),
                birth_year=s.person.birth_year,
                kind=s.kind,
                collected_at=s.collected_at,
            )
            for s in queries.tube_members(tube)
        ],
    )


# Sites, with their campaign and ward, kept per server process for a few seconds:
# a station sends a request per scan, and a site (or its campaign's status, limit
# or test type) changing takes effect within SITE_CACHE_SECONDS. The permission to
# capture there is checked afresh on every request.
SITE_CACHE_SECONDS = 10.0
_sites: dict[uuid.UUID, tuple[float, Site]] = {}


def _site(public_id: uuid.UUID) -> Site:
    now = time.monotonic()
    cached = _sites.get(public_id)
    if cached is not None and now - cached[0] < SITE_CACHE_SECONDS:
        return cached[1]
    site = Site.objects.select_related("campaign", "ward").filter(public_id=public_id).first()
    if site is None:
        raise HttpError(404, _("Unknown site."))
    if len(_sites) > 1000:
        _sites.clear()
    _sites[public_id] = (now, site)
    return site


def _capture_site(request: HttpRequest, public_id: uuid.UUID) -> Site:
    site = _site(public_id)
    if not has_permission(request.user, Permission.CAPTURE_SAMPLES, site):
        raise HttpError(403, _("You are not assigned to capture samples at this site."))
    return site


def _ward(code: str) -> Place:
    ward = Place.objects.filter(system=System.CURRENT, level=Level.WARD, code=code).first()
    if ward is None:
        raise HttpError(422, _("Unknown ward code."))
    return ward


def _result_out(result: EventResult) -> ResultOut:
    return ResultOut(
        id=result.id,
        fate=result.fate,
        reason=result.reason,
        message=result.message,
        person=None
        if result.person is None
        else PersonOut(
            public_id=result.person.public_id,
            display=result.person.display,
            birth_year=result.person.birth_year,
        ),
        tube=None
        if result.tube is None
        else TubeStateOut(
            code=result.tube.code,
            count=result.tube.count,
            limit=result.tube.limit,
            status=result.tube.status,
        ),
        first_fate=result.first_fate,
        first_reason=result.first_reason,
    )


def _field_errors(exc: ValidationError) -> list[FieldError]:
    if hasattr(exc, "error_dict"):
        return [
            FieldError(field=name, message=str(message))
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [FieldError(field="", message=str(m)) for m in exc.messages]
