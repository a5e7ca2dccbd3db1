"""`/api/v1/backfill`: paper tubes entered late, the paper backlog, names missing.

- `POST /entries`: one paper tube (label, site, sheet reference, collection time,
  people by public id), idempotent on `client_id`; 422 with per-field errors.
- `GET /backlog?campaign=&place=`: the backlog figures (`queries.backlog`).
- `GET /names-missing?campaign=&place=`: names-missing tubes at labs.
- `POST /backlog`: a site declares its paper tubes not entered.

403 when the role lacks the permission everywhere, 404 for a site, campaign or
place outside the caller's scope.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.backfill import queries, services
from swabline.backfill.enums import EntrySource
from swabline.backfill.models import MAX_SHEET_REF
from swabline.campaigns.models import Campaign, Site
from swabline.people.models import Person
from swabline.places.models import Place

router = Router(tags=["backfill"])


class EntryIn(Schema):
    client_id: uuid.UUID
    site: uuid.UUID
    code: str = Field(..., max_length=40)
    sheet_ref: str = Field(..., max_length=MAX_SHEET_REF)
    collected_at: dt.datetime
    people: list[str] = Field(..., max_length=50)
    duration_seconds: float | None = None


class EntryOut(Schema):
    tube: str
    people: int
    sheet_ref: str
    names_missing: bool
    releasable: bool
    replayed: bool


class Refused(Schema):
    detail: str
    errors: dict[str, list[str]] = {}


class BacklogIn(Schema):
    site: uuid.UUID
    tubes: int = Field(..., ge=0, le=services.MAX_BACKLOG)
    note: str = Field("", max_length=300)


class FiguresOut(Schema):
    paper_declared: int
    names_missing: int
    names_missing_oldest: dt.datetime | None
    names_missing_max_age_hours: float | None
    entries: int
    delay_hours_median: float | None
    delay_hours_p90: float | None
    entry_seconds_median: float | None
    entry_seconds_p90: float | None
    labels_issued: int
    labels_used: int


class SiteFiguresOut(Schema):
    site: uuid.UUID
    site_name: str
    ward_code: str
    figures: FiguresOut


class WardFiguresOut(Schema):
    ward_code: str
    ward_name: str
    figures: FiguresOut


class BacklogOut(Schema):
    campaign: uuid.UUID
    place: str | None
    total: FiguresOut
    wards: list[WardFiguresOut]
    sites: list[SiteFiguresOut]


class MissingOut(Schema):
    code: str
    site: uuid.UUID
    site_name: str
    ward_code: str
    names_missing_since: dt.datetime
    age_hours: float
    shipment_id: int | None
    lab_name: str | None
    result_entered: bool


def _site(request: HttpRequest, public_id: uuid.UUID) -> Site:
    if not has_permission(request.user, Permission.BACKFILL_SAMPLES):
        raise HttpError(403, _("Your role does not allow this."))
    site = queries.backfill_sites(request.user).filter(public_id=public_id).first()
    if site is None:
        raise HttpError(404, _("Not found."))
    return site


def _figures(f: queries.Figures) -> FiguresOut:
    return FiguresOut(**{k: getattr(f, k) for k in FiguresOut.model_fields})


def _scope(request: HttpRequest, campaign: str, place: str) -> tuple[Campaign, Place | None]:
    if not any(has_permission(request.user, p) for p in queries.READERS):
        raise HttpError(403, _("Your role does not allow this."))
    sites = queries.visible_sites(request.user)
    found = None
    for c in Campaign.objects.filter(pk__in=sites.values("campaign_id")):
        if campaign in (str(c.pk), str(c.public_id)):
            found = c
    if found is None:
        raise HttpError(404, _("Not found."))
    where = Place.objects.filter(code=place).order_by("system").first() if place else None
    if place and where is None:
        raise HttpError(404, _("Not found."))
    return found, where


@router.post("/entries", response={200: EntryOut, 403: Refused, 404: Refused, 422: Refused})
def create_entry(request: HttpRequest, data: EntryIn) -> Any:
    """Enter one paper tube; the same `client_id` again answers the first entry."""
    site = _site(request, data.site)
    found = {p.public_id: p for p in Person.objects.filter(public_id__in=data.people)}
    missing = [i for i in data.people if i not in found]
    if missing:
        return Status(422, Refused(detail=_("Unknown people."), errors={"people": missing[:20]}))
    try:
        entered = services.enter_paper_tube(
            by=request.user,
            site=site,
            paper=services.PaperTube(
                code=data.code,
                collected_at=data.collected_at
                if timezone.is_aware(data.collected_at)
                else timezone.make_aware(data.collected_at),
                sheet_ref=data.sheet_ref,
                people=[found[i] for i in data.people],
            ),
            client_id=data.client_id,
            duration_seconds=data.duration_seconds,
            source=EntrySource.API,
        )
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return Status(422, Refused(detail=_("The tube was refused."), errors=errors))
    entry = entered.entry
    return EntryOut(
        tube=entry.tube.code,
        people=entry.people,
        sheet_ref=entry.sheet_ref,
        names_missing=entry.names_missing_since is not None,
        releasable=entered.releasable,
        replayed=entered.replayed,
    )


@router.get("/backlog", response=BacklogOut)
def get_backlog(request: HttpRequest, campaign: str, place: str = "") -> BacklogOut:
    """Backlog figures per site and ward of the campaign, scoped to the caller."""
    found, where = _scope(request, campaign, place)
    b = queries.backlog(request.user, found, where)
    return BacklogOut(
        campaign=found.public_id,
        place=where.code if where else None,
        total=_figures(b.total),
        wards=[
            WardFiguresOut(
                ward_code=w.ward.code, ward_name=w.ward.name, figures=_figures(w.figures)
            )
            for w in b.wards
        ],
        sites=[
            SiteFiguresOut(
                site=s.site.public_id,
                site_name=s.site.name,
                ward_code=s.site.ward.code,
                figures=_figures(s.figures),
            )
            for s in b.sites
        ],
    )


@router.get("/names-missing", response=list[MissingOut])
def get_names_missing(request: HttpRequest, campaign: str, place: str = "") -> list[MissingOut]:
    """Names-missing tubes at labs, oldest first (at most 500)."""
    found, where = _scope(request, campaign, place)
    now = timezone.now()
    rows: list[MissingOut] = []
    for t in queries.names_missing(request.user, found, where)[:500]:
        since = t.names_missing_since or now
        extra: Any = t  # annotated: shipment_id, lab_name, result_value
        rows.append(
            MissingOut(
                code=t.code,
                site=t.site.public_id,
                site_name=t.site.name,
                ward_code=t.site.ward.code,
                names_missing_since=since,
                age_hours=(now - since).total_seconds() / 3600,
                shipment_id=extra.shipment_id,
                lab_name=extra.lab_name,
                result_entered=extra.result_value is not None,
            )
        )
    return rows


@router.post("/backlog", response={200: FiguresOut, 403: Refused, 404: Refused})
def post_backlog(request: HttpRequest, data: BacklogIn) -> Any:
    """A site declares how many paper tubes are not entered yet; answers its figures."""
    site = _site(request, data.site)
    services.declare_backlog(by=request.user, site=site, tubes=data.tubes, note=data.note)
    b = queries.backlog(request.user, site.campaign, None)
    mine = next(s for s in b.sites if s.site.pk == site.pk)
    return _figures(mine.figures)
