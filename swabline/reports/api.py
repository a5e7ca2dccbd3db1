"""`/api/v1/reports`: the analysis pages' numbers for machines (token auth).

- GET /reports/{campaign}/turnaround?place=CODE: median and p90 (seconds) of each
  step, per ward, per lab and overall.
- GET /reports/{campaign}/advisor?place=CODE: per ward and overall, the estimated
  prevalence, the recommended pool size and what each allowed size costs.

Same scoping as the pages: 403 without VIEW_DASHBOARD anywhere, 404 for a campaign
or place outside the caller's places.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.errors import HttpError

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.campaigns.models import CampaignWard
from swabline.reports import advisor, queries, turnaround
from swabline.reports.queries import ReportScope

router = Router(tags=["reports"])


class StatOut(Schema):
    count: int
    median_seconds: float | None
    p90_seconds: float | None


class TurnaroundRow(Schema):
    code: str
    name: str
    steps: dict[str, StatOut]


class TurnaroundOut(Schema):
    campaign: uuid.UUID
    place: str
    wards: list[TurnaroundRow]
    labs: list[TurnaroundRow]
    total: dict[str, StatOut]


class OptionOut(Schema):
    size: int
    tests_per_person: float
    tests_saved: float
    recalled: float


class AdviceOut(Schema):
    ward: str | None  # None: all the wards of the place together
    tubes: int
    positive_tubes: int
    people_tested: int
    prevalence: float | None
    recommended: int | None
    options: list[OptionOut]


class AdvisorOut(Schema):
    campaign: uuid.UUID
    place: str
    sizes: list[int]
    advice: list[AdviceOut]


def _scope(request: HttpRequest, campaign: uuid.UUID, place: str) -> ReportScope:
    if not has_permission(request.user, Permission.VIEW_DASHBOARD):
        raise HttpError(403, _("You may not do this."))
    return queries.report_scope(request.user, campaign, place, Permission.VIEW_DASHBOARD)


def _steps(stats: dict[str, turnaround.Stat]) -> dict[str, StatOut]:
    return {
        key: StatOut(count=s.count, median_seconds=s.median, p90_seconds=s.p90)
        for key, s in stats.items()
    }


@router.get("/{campaign}/turnaround", response=TurnaroundOut)
def turnaround_times(request: HttpRequest, campaign: uuid.UUID, place: str = "") -> TurnaroundOut:
    """Turnaround medians and p90s of the campaign in `place` (default: the caller's
    widest place)."""
    scope = _scope(request, campaign, place)
    result = turnaround.turnaround(scope)
    return TurnaroundOut(
        campaign=scope.campaign.public_id,
        place=scope.place.code,
        wards=[TurnaroundRow(code=w.code, name=w.name, steps=_steps(s)) for w, s in result.wards],
        labs=[
            TurnaroundRow(code=lab.code, name=lab.name, steps=_steps(s)) for lab, s in result.labs
        ],
        total=_steps(result.total),
    )


@router.get("/{campaign}/advisor", response=AdvisorOut)
def pool_size_advice(request: HttpRequest, campaign: uuid.UUID, place: str = "") -> AdvisorOut:
    """The pool-size advisor's numbers for the campaign in `place`."""
    scope = _scope(request, campaign, place)
    targets = dict(
        CampaignWard.objects.filter(
            campaign=scope.campaign, ward_id__in=scope.ward_ids
        ).values_list("ward_id", "target_population")
    )
    return AdvisorOut(
        campaign=scope.campaign.public_id,
        place=scope.place.code,
        sizes=advisor.sizes_for(scope.campaign),
        advice=[
            AdviceOut(
                ward=a.ward.code if a.ward else None,
                tubes=a.tubes,
                positive_tubes=a.positive_tubes,
                people_tested=a.people_tested,
                prevalence=a.prevalence,
                recommended=a.recommended,
                options=[OptionOut(**vars(o)) for o in a.options],
            )
            for a in advisor.advise(scope, targets)
        ],
    )
