"""`/api/v1/dashboard`: the progress figures of a campaign in a place, scoped
exactly like the page (the same `queries.progress`)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.errors import HttpError

from swabline.accounts.permissions import has_permission
from swabline.dashboard import queries

router = Router(tags=["dashboard"])


class TubesOut(Schema):
    open: int
    closed: int
    shipped: int
    received: int
    resulted: int
    released: int
    void: int
    rejected: int


class FiguresOut(Schema):
    target_population: int | None
    registered: int | None
    people_sampled: int
    samples: int
    tubes_sampled: int
    tubes: TubesOut
    positive_pools: int
    positive_people: int
    recall_pending: int
    recollect_pending: int
    coverage_percent: float | None
    alarms: int


class RowOut(Schema):
    name: str
    code: str
    kind: str
    figures: FiguresOut


class AlarmOut(Schema):
    kind: str
    label: str
    count: int
    threshold_minutes: int | None


class HourOut(Schema):
    hour: str
    sampled: int
    released: int


class ProgressOut(Schema):
    campaign: uuid.UUID
    place: str
    place_name: str
    site: uuid.UUID | None
    totals: FiguresOut
    rows: list[RowOut]
    alarms: list[AlarmOut]
    hours: list[HourOut]


@router.get("/progress", response=ProgressOut)
def progress(
    request: HttpRequest, campaign: uuid.UUID, place: str = "", site: uuid.UUID | None = None
) -> Any:
    """Progress of `campaign` in `place` (a place code; default: the caller's highest
    place), or in one `site` of it: the totals, one row per child place (per site in
    a ward), the backlog alarms and the hourly series (UTC)."""
    if not has_permission(request.user, queries.PERM):
        raise HttpError(403, _("You may not do this."))
    found = queries.campaigns(request.user).filter(public_id=campaign).first()
    if found is None:
        raise Http404
    where = queries.resolve_place(request.user, found, place or None)
    the_site = queries.site_in(found, where, str(site) if site else None)
    data = queries.progress(request.user, found, where, the_site)
    return {
        "campaign": found.public_id,
        "place": where.code,
        "place_name": where.name,
        "site": the_site.public_id if the_site else None,
        "totals": data.totals.as_dict(),
        "rows": [
            {
                "name": r.label,
                "code": r.code,
                "kind": "site" if r.is_site else "place",
                "figures": r.figures.as_dict(),
            }
            for r in data.rows
        ],
        "alarms": [
            {
                "kind": a.kind,
                "label": str(a.label),
                "count": a.count,
                "threshold_minutes": a.threshold_minutes,
            }
            for a in data.alarms
        ],
        "hours": [
            {"hour": h.isoformat(), "sampled": s, "released": r}
            for h, s, r in zip(
                data.hours, data.sampled_per_hour, data.released_per_hour, strict=True
            )
        ],
    }
