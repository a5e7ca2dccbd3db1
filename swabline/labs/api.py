"""`/api/v1/labs` operations for lab systems (token auth, scoped to the caller's lab).

- GET /labs: the labs where the caller enters results.
- GET /labs/{lab}/worklist: tubes received there awaiting a result, oldest first.
- POST /labs/{lab}/results: a batch of results, each with its client id. Atomic: if
  any item is refused, nothing is recorded and the reply (422) says why per item;
  a retried batch answers `duplicate` for what was already recorded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission, scoped
from swabline.labs import queries, services
from swabline.labs.enums import ResultSource
from swabline.labs.models import Lab

router = Router(tags=["labs"])

MAX_BATCH = 1000


class LabOut(Schema):
    public_id: uuid.UUID
    code: str
    name: str


class WorkOut(Schema):
    tube: str
    people: int
    campaign: str
    received_at: dt.datetime | None
    hours_waiting: float
    level: Literal["ok", "warning", "alarm"]


class ResultIn(Schema):
    client_id: uuid.UUID
    tube: str = Field(..., min_length=1, max_length=64)
    value: Literal["negative", "positive", "invalid"]
    ct: dict[str, float | None] = {}
    well: str = Field("", max_length=10)
    run_id: str = Field("", max_length=100)
    method: str = Field("", max_length=100)
    replace: bool = False


class ResultsIn(Schema):
    results: list[ResultIn] = Field(..., min_length=1, max_length=MAX_BATCH)


class ItemOut(Schema):
    client_id: uuid.UUID
    tube: str
    status: Literal["created", "replaced", "unchanged", "duplicate", "error"]
    code: str = ""
    message: str = ""


class ResultsOut(Schema):
    applied: bool
    items: list[ItemOut]


def _lab(request: HttpRequest, lab: uuid.UUID, perm: Permission) -> Lab:
    if not has_permission(request.user, perm):
        raise HttpError(403, _("You may not do this."))
    return get_scoped_or_404(Lab.objects.select_related("place"), request.user, perm, public_id=lab)


@router.get("", response=list[LabOut])
def my_labs(request: HttpRequest) -> Any:
    return scoped(
        Lab.objects.all(),
        request.user,
        Permission.ENTER_RESULTS,
        place_path="place__path",
        lab="id",
    )


@router.get("/{lab}/worklist", response=list[WorkOut])
def worklist(request: HttpRequest, lab: uuid.UUID, limit: int = 500) -> Any:
    the_lab = _lab(request, lab, Permission.ENTER_RESULTS)
    rows = queries.worklist(the_lab, limit=max(1, min(limit, queries.WORKLIST_LIMIT)))
    return [
        {
            "tube": r.tube.code,
            "people": r.tube.member_count,
            "campaign": r.tube.campaign.name,
            "received_at": r.received_at,
            "hours_waiting": round(r.hours, 2),
            "level": r.level,
        }
        for r in rows
    ]


@router.post("/{lab}/results", response={200: ResultsOut, 422: ResultsOut})
def post_results(request: HttpRequest, lab: uuid.UUID, body: ResultsIn) -> Any:
    the_lab = _lab(request, lab, Permission.ENTER_RESULTS)
    items: list[dict[str, Any]] = []
    with transaction.atomic():
        for item in body.results:
            items.append(_one(request, the_lab, item))
        failed = any(i["status"] == "error" for i in items)
        if failed:
            transaction.set_rollback(True)
    return Status(422 if failed else 200, {"applied": not failed, "items": items})


def _one(request: HttpRequest, lab: Lab, item: ResultIn) -> dict[str, Any]:
    answer: dict[str, Any] = {"client_id": item.client_id, "tube": item.tube}
    try:
        done = services.record_result(
            by=request.user,
            lab=lab,
            tube_code=item.tube,
            value=item.value,
            ct_values=dict(item.ct),
            method=item.method,
            well=item.well,
            run_id=item.run_id,
            source=ResultSource.API,
            client_id=item.client_id,
            replace=item.replace,
        )
    except services.ResultRefused as exc:
        return {**answer, "status": "error", "code": exc.code or "", "message": exc.messages[0]}
    return {**answer, "status": done.fate}
