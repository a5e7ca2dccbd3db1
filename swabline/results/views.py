"""Officials' pages: the recall (and recollect) list of a campaign, and its export."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.campaigns.models import Campaign, CampaignWard
from swabline.places.models import Place
from swabline.results import exports, queries
from swabline.results.enums import OutcomeState
from swabline.results.models import Outcome

PAGE_SIZE = 50


def _require(request: HttpRequest, perm: Permission) -> None:
    if not has_permission(request.user, perm):
        raise PermissionDenied


def _campaign(request: HttpRequest, public_id: Any) -> Campaign:
    campaign = queries.outcome_campaigns(request.user).filter(public_id=public_id).first()
    if campaign is None:
        raise Http404
    return campaign


def _filters(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    """The list's filters from the query string, with the wards the user may pick."""
    state = request.GET.get("state", OutcomeState.RECALL)
    if state not in (OutcomeState.RECALL, OutcomeState.RECOLLECT):
        state = OutcomeState.RECALL
    resampled = {"yes": True, "no": False}.get(request.GET.get("resampled", ""))
    wards = _wards(request, campaign)
    ward = next((w for w in wards if w.code == request.GET.get("ward")), None)
    return {"state": state, "resampled": resampled, "ward": ward, "wards": wards}


def _wards(request: HttpRequest, campaign: Campaign) -> list[Place]:
    """The campaign's wards (of its sites) that the user may see outcomes of."""
    listed = CampaignWard.objects.filter(campaign=campaign).values("ward_id")
    wards = (
        Place.objects.filter(Q(sites__campaign=campaign) | Q(pk__in=listed))
        .distinct()
        .order_by("name")
    )
    return [w for w in wards if has_permission(request.user, Permission.VIEW_OUTCOMES, w)]


def _rows(request: HttpRequest, campaign: Campaign, f: dict[str, Any]) -> QuerySet[Outcome]:
    return queries.recall_list(
        request.user, campaign, state=f["state"], ward=f["ward"], resampled=f["resampled"]
    )


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Campaigns whose recall lists the official may see."""
    _require(request, Permission.VIEW_OUTCOMES)
    campaigns = queries.outcome_campaigns(request.user)
    return render(request, "results/campaigns.html", {"campaigns": campaigns})


@login_required
def recall_list(request: HttpRequest, public_id: Any) -> HttpResponse:
    """People to call back: pool positive (recall) or to swab again (recollect)."""
    _require(request, Permission.VIEW_OUTCOMES)
    campaign = _campaign(request, public_id)
    f = _filters(request, campaign)
    page = Paginator(_rows(request, campaign, f), PAGE_SIZE).get_page(request.GET.get("page"))
    # One event per person on the page, before the page is rendered (else 503).
    audit.record_views(
        by=request.user,
        action="results.recall_viewed",
        subjects=[outcome.person for outcome in page],
        campaign=str(campaign.public_id),
        state=f["state"],
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "results/recall_list.html",
        {
            "campaign": campaign,
            "page": page,
            "filters": f,
            "query": query.urlencode(),
            "can_export": has_permission(request.user, Permission.EXPORT_DATA),
        },
    )


@login_required
def recall_export(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The filtered list as XLSX (personal data: every export is audited)."""
    _require(request, Permission.VIEW_OUTCOMES)
    _require(request, Permission.EXPORT_DATA)
    campaign = _campaign(request, public_id)
    f = _filters(request, campaign)
    audit.record_view(
        by=request.user,
        action="results.recall_exported",
        subject=campaign,
        province_code=campaign.province_code,
        state=f["state"],
        ward=f["ward"].code if f["ward"] else "",
        resampled=f["resampled"],
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    name = f"swabline-{f['state']}-{f['ward'].code if f['ward'] else 'all'}-{stamp}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    exports.export_recall_xlsx(_rows(request, campaign, f), response)
    return response
