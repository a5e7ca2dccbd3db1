"""Officials' analysis pages and documents. Each view checks the role first (403
when the user holds the permission nowhere) and then the place (404 for a campaign
or place outside the user's places, so ids cannot be probed)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.campaigns.models import CampaignWard
from swabline.reports import advisor, documents, queries, services, turnaround
from swabline.reports.queries import ReportScope

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DASHBOARD = (Permission.VIEW_DASHBOARD,)
POSITIVES = (Permission.VIEW_OUTCOMES, Permission.EXPORT_DATA)


def _scope(
    request: HttpRequest, campaign_id: uuid.UUID, perms: tuple[Permission, ...]
) -> ReportScope:
    if not all(has_permission(request.user, perm) for perm in perms):
        raise PermissionDenied
    return queries.report_scope(request.user, campaign_id, request.GET.get("place", ""), *perms)


def _context(request: HttpRequest, scope: ReportScope) -> dict[str, Any]:
    """What every page shows: the campaign, the place, where to drill down or up."""
    user = request.user
    up = scope.place.parent
    can_go_up = (
        up is not None
        and up.path.startswith(scope.campaign.province.path)
        and has_permission(user, Permission.VIEW_DASHBOARD, up)
    )
    return {
        "campaign": scope.campaign,
        "place": scope.place,
        "wards": scope.wards if len(scope.wards) > 1 else [],
        "up": up if can_go_up else None,
        "today": timezone.localdate().isoformat(),
    }


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """Campaigns whose reports the official may open."""
    if not has_permission(request.user, Permission.VIEW_DASHBOARD):
        raise PermissionDenied
    campaigns = queries.campaigns_for(request.user, Permission.VIEW_DASHBOARD)
    return render(
        request,
        "reports/index.html",
        {
            "campaigns": campaigns,
            "today": timezone.localdate().isoformat(),
            "can_export_positives": all(has_permission(request.user, p) for p in POSITIVES),
        },
    )


@login_required
def daily(request: HttpRequest, campaign_id: uuid.UUID, fmt: str) -> HttpResponse:
    """The daily report (per ward, with totals) as XLSX or PDF."""
    if fmt not in ("xlsx", "pdf"):
        raise Http404
    scope = _scope(request, campaign_id, DASHBOARD)
    raw = request.GET.get("date", "")
    try:
        day = dt.date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        return HttpResponseBadRequest(_("The date must be written YYYY-MM-DD."))
    report = queries.daily(scope, day)
    name = f"swabline-daily-{scope.place.code}-{day.isoformat()}.{fmt}"
    if fmt == "pdf":
        response = HttpResponse(documents.daily_pdf(report), content_type="application/pdf")
    else:
        response = HttpResponse(content_type=XLSX)
        documents.daily_xlsx(report, response)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def positives(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """The positive list for contact tracing (XLSX). Personal data: every export is
    audited (who, which campaign and place, how many people, when)."""
    scope = _scope(request, campaign_id, POSITIVES)
    rows = queries.positives(scope)
    services.record_positives_export(by=request.user, scope=scope, rows=rows.count())
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(content_type=XLSX)
    response["Content-Disposition"] = (
        f'attachment; filename="swabline-positives-{scope.place.code}-{stamp}.xlsx"'
    )
    documents.positives_xlsx(rows, response)
    return response


@login_required
def turnaround_page(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """Median and p90 of the sample's journey, per ward and per lab."""
    scope = _scope(request, campaign_id, DASHBOARD)
    result = turnaround.turnaround(scope)
    metrics = turnaround.METRICS

    def cells(stats: dict[str, turnaround.Stat]) -> list[dict[str, Any]]:
        return [
            {
                "key": key,
                "count": stats.get(key, turnaround.Stat()).count,
                "median": turnaround.format_duration(stats.get(key, turnaround.Stat()).median),
                "p90": turnaround.format_duration(stats.get(key, turnaround.Stat()).p90),
            }
            for key, _label in metrics
        ]

    return render(
        request,
        "reports/turnaround.html",
        {
            **_context(request, scope),
            "metrics": [label for _key, label in metrics],
            "ward_rows": [(ward, cells(stats)) for ward, stats in result.wards],
            "lab_rows": [(lab, cells(stats)) for lab, stats in result.labs],
            "total": cells(result.total),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def advisor_page(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """Per ward: the prevalence seen, the recommended pool size, and what each
    allowed size costs. Officials with campaign rights set the allowed sizes."""
    scope = _scope(request, campaign_id, DASHBOARD)
    can_edit = has_permission(request.user, Permission.MANAGE_CAMPAIGNS, scope.campaign)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        try:
            sizes = [int(s) for s in request.POST.get("sizes", "").replace(" ", "").split(",") if s]
            services.set_pool_sizes(by=request.user, campaign=scope.campaign, sizes=sizes)
        except ValueError:
            messages.error(request, _("Write the sizes as whole numbers separated by commas."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Allowed pool sizes saved."))
        url = reverse("reports:advisor", kwargs={"campaign_id": scope.campaign.public_id})
        return redirect(f"{url}?place={scope.place.code}")
    targets = dict(
        CampaignWard.objects.filter(
            campaign=scope.campaign, ward_id__in=scope.ward_ids
        ).values_list("ward_id", "target_population")
    )
    return render(
        request,
        "reports/advisor.html",
        {
            **_context(request, scope),
            "advice": advisor.advise(scope, targets),
            "sizes": advisor.sizes_for(scope.campaign),
            "limit": scope.campaign.pool_size_limit,
            "can_edit": can_edit,
            "per_people": advisor.PER_PEOPLE,
        },
    )
