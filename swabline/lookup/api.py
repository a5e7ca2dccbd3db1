"""`POST /api/v1/lookup`: the look-up page's rules over JSON (public).

Same counters and the same single answer for an unknown identity, a wrong date of
birth and a locked identity (`{"found": false, "people": []}`, 200); 429 when the
client failed too often; 422 when the input has the wrong form.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Router, Status
from pydantic import BaseModel, Field

from swabline.core.ratelimit import client_ip
from swabline.lookup import queries, services, session, timeline
from swabline.lookup.identifiers import parse_birth, parse_identifier
from swabline.lookup.services import Verdict

router = Router(tags=["lookup"])


class Plain(BaseModel):
    """Plain pydantic models (no Django objects inside): cheaper than ninja's Schema
    on this hot path, as on the station's (see swabline/sampling/api.py)."""


class LookupIn(Plain):
    identifier: str = Field(..., max_length=40, description="Personal code, CCCD or phone")
    day: int | None = Field(None, ge=1, le=31)
    month: int | None = Field(None, ge=1, le=12)
    year: int = Field(..., ge=1, le=9999)


class StepOut(Plain):
    step: str
    at: dt.datetime | None
    text: str
    detail: str


class PlaceOut(Plain):
    name: str
    address: str


class CampaignOut(Plain):
    campaign: str
    starts_on: dt.date
    outcome: str
    outcome_label: str
    certificate_url: str | None
    instructions: str
    go_to: list[PlaceOut]
    timeline: list[StepOut]


class PersonOut(Plain):
    public_id: str
    code: str
    full_name: str
    birth: str
    registered_at: dt.datetime
    campaigns: list[CampaignOut]


class LookupOut(Plain):
    found: bool
    people: list[PersonOut]


class FieldErrorOut(Plain):
    field: str
    message: str


class InvalidOut(Plain):
    detail: str
    errors: list[FieldErrorOut]


class DetailOut(Plain):
    detail: str


_PLACEHOLDER = 987654321


@functools.cache
def _certificate_url_template() -> str:
    """The certificate URL with a placeholder id (reversing it per answer cost more
    than building the rest of the answer)."""
    return reverse("certificates:pdf", args=[_PLACEHOLDER])


def certificate_url(outcome_id: int) -> str:
    return _certificate_url_template().replace(str(_PLACEHOLDER), str(outcome_id))


def _campaign_out(c: timeline.CampaignView) -> CampaignOut:
    cert = certificate_url(c.outcome_id) if c.certificate and c.outcome_id else None
    return CampaignOut(
        campaign=c.name,
        starts_on=c.starts_on,
        outcome=c.state.value,
        outcome_label=c.state_label,
        certificate_url=cert,
        instructions=c.instructions,
        go_to=[PlaceOut(name=p.name, address=p.address) for p in c.go_to],
        timeline=[StepOut(step=s.step, at=s.at, text=s.text, detail=s.detail) for s in c.steps],
    )


def _person_out(p: timeline.PersonView) -> PersonOut:
    return PersonOut(
        public_id=p.public_id,
        code=p.code,
        full_name=p.full_name,
        birth=p.birth,
        registered_at=p.registered_at,
        campaigns=[_campaign_out(c) for c in p.campaigns],
    )


def _invalid(field: str, exc: ValidationError) -> Status:
    errors = [FieldErrorOut(field=field, message=m) for m in exc.messages]
    return Status(422, InvalidOut(detail=_("Some fields are not valid."), errors=errors))


@router.post(
    "",
    response={200: LookupOut, 422: InvalidOut, 429: DetailOut},
    auth=None,
    url_name="lookup",
    summary="Look a result up with a code, CCCD or phone and the date of birth (public)",
)
def lookup(request: HttpRequest, response: HttpResponse, payload: LookupIn) -> Status:
    """`found` false for an unknown identity, a wrong date of birth or a locked
    identity alike. A success also sets the look-up grant cookie (for the
    certificate download), as the page does."""
    try:
        identifier = parse_identifier(payload.identifier)
    except ValidationError as exc:
        return _invalid("identifier", exc)
    try:
        birth = parse_birth(payload.day, payload.month, payload.year)
    except ValidationError as exc:
        return _invalid("birth", exc)
    tried = services.attempt(
        identifier=identifier, birth=birth, client=client_ip(request), with_facts=True
    )
    if tried.verdict == Verdict.THROTTLED:
        minutes = settings.LOOKUP_CLIENT_WINDOW_MINUTES
        detail = _("Too many tries from this device. Wait %(minutes)s minutes and try again.")
        return Status(429, DetailOut(detail=detail % {"minutes": minutes}))
    if tried.verdict != Verdict.GRANTED:
        return Status(200, LookupOut(found=False, people=[]))
    session.grant(response, tried.person_ids)
    response["Cache-Control"] = "no-store, private"  # personal data
    views = timeline.build(tried.people, tried.facts or queries.facts(tried.people))
    return Status(200, LookupOut(found=True, people=[_person_out(v) for v in views]))
