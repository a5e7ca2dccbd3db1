"""The command center's pages: progress with drill-down, its live fragment, the
tubes or people behind an alarm, and the campaign's alarm thresholds."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.campaigns.models import Campaign
from swabline.dashboard import queries, services
from swabline.dashboard.forms import ThresholdsForm

PAGE_SIZE = 50


def _require(request: HttpRequest) -> None:
    if not has_permission(request.user, queries.PERM):
        raise PermissionDenied


def _campaign(request: HttpRequest, public_id: Any) -> Campaign:
    campaign = queries.campaigns(request.user).filter(public_id=public_id).first()
    if campaign is None:
        raise Http404
    return campaign


def _link(name: str, *args: Any, query: dict[str, str] | None = None, **kw: Any) -> str:
    """A link to another app's page, with its query string."""
    url = reverse(name, args=args or None, kwargs=kw or None)
    return f"{url}?{urlencode(query)}" if query else url


def _table_rows(data: queries.Progress) -> SafeString:
    """The drill-down rows, built here rather than by the template language (a
    province shows 100 rows of 11 cells). Names and codes are escaped; the other
    cells are numbers formatted here."""
    vi = (get_language() or "").startswith("vi")

    def n(value: int | None) -> str:
        if value is None:
            return ""
        text = f"{value:,}"
        return text.replace(",", ".") if vi else text

    out = []
    for row in data.rows:
        f = row.figures
        code, label = escape(row.code), escape(row.label)
        if row.is_site:
            href = f"?place={escape(data.place.code)}&amp;site={code}"
        else:
            href = f"?place={code}"
        coverage = f.coverage
        cells = [
            n(f.target),
            n(f.people_sampled),
            "" if coverage is None else f"{coverage} %",
            n(f.tubes_sampled),
            n(f.tubes("released")),
            n(f.positive_pools),
            n(f.positive_people),
            n(f.recall_pending),
            n(f.recollect_pending),
        ]
        alarms = f'<strong class="warning-text">{n(f.alarms)}</strong>' if f.alarms else "0"
        out.append(
            f'<tr data-testid="row" data-code="{code}" data-alarms="{f.alarms}">'
            f'<td><a href="{href}">{label}</a></td>'
            + "".join(f"<td>{c}</td>" for c in cells)
            + f"<td>{alarms}</td></tr>"
        )
    return mark_safe("\n".join(out))  # noqa: S308 — names and codes escaped above


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The campaigns the official may follow; straight to the only one."""
    _require(request)
    found = list(queries.campaigns(request.user))
    if len(found) == 1:
        return redirect("dashboard:progress", public_id=found[0].public_id)
    return render(request, "dashboard/home.html", {"campaigns": found})


def _context(request: HttpRequest, public_id: Any) -> dict[str, Any]:
    _require(request)
    campaign = _campaign(request, public_id)
    place = queries.resolve_place(request.user, campaign, request.GET.get("place"))
    site = queries.site_in(campaign, place, request.GET.get("site"))
    data = queries.progress(request.user, campaign, place, site)
    where = {"place": place.code} | ({"site": str(site.public_id)} if site else {})
    today = timezone.localdate().isoformat()
    links = {
        "daily_xlsx": _link(
            "reports:daily",
            campaign_id=campaign.public_id,
            fmt="xlsx",
            query={"place": place.code, "date": today},
        ),
        "daily_pdf": _link(
            "reports:daily",
            campaign_id=campaign.public_id,
            fmt="pdf",
            query={"place": place.code, "date": today},
        ),
        "turnaround": _link(
            "reports:turnaround", campaign_id=campaign.public_id, query={"place": place.code}
        ),
        "advisor": _link(
            "reports:advisor", campaign_id=campaign.public_id, query={"place": place.code}
        ),
        "positives": _link(
            "reports:positives", campaign_id=campaign.public_id, query={"place": place.code}
        ),
    }
    alarm_links = {}
    for alarm in data.alarms:
        if alarm.kind == queries.NAMES_MISSING:
            alarm_links[alarm.kind] = _link(
                "backfill:names-missing",
                query={"campaign": str(campaign.public_id), "place": place.code},
            )
        else:
            url = reverse(
                "dashboard:alarm", kwargs={"public_id": campaign.public_id, "kind": alarm.kind}
            )
            alarm_links[alarm.kind] = f"{url}?{urlencode(where)}"
    chart = {
        "labels": [timezone.localtime(h).strftime("%d/%m %H:00") for h in data.hours],
        "sampled": data.sampled_per_hour,
        "released": data.released_per_hour,
    }
    return {
        "campaign": campaign,
        "p": data,
        "table_rows": _table_rows(data),
        "where": urlencode(where),
        "links": links,
        "alarm_links": alarm_links,
        "chart_labels": json.dumps(chart["labels"]),
        "chart_sampled": json.dumps(chart["sampled"]),
        "chart_released": json.dumps(chart["released"]),
        "refresh": settings.DASHBOARD_REFRESH_SECONDS,
        "can_edit_thresholds": has_permission(request.user, Permission.MANAGE_CAMPAIGNS, campaign),
        "updated_at": timezone.now(),
    }


@login_required
def progress(request: HttpRequest, public_id: Any) -> HttpResponse:
    """Progress of a campaign in a place (default: the user's highest), drill-down
    to wards and sites; the figures refresh themselves (htmx, `live`)."""
    return render(request, "dashboard/progress.html", _context(request, public_id))


@login_required
def live(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The figures alone, polled by the page."""
    return render(request, "dashboard/_live.html", _context(request, public_id))


@login_required
def alarm(request: HttpRequest, public_id: Any, kind: str) -> HttpResponse:
    """The exact tubes (or recalled people) behind one alarm, in the place."""
    _require(request)
    if kind not in queries.ALARM_KINDS:
        raise Http404
    if kind == "recall" and not has_permission(request.user, Permission.VIEW_OUTCOMES):
        raise PermissionDenied
    campaign = _campaign(request, public_id)
    place = queries.resolve_place(request.user, campaign, request.GET.get("place"))
    site = queries.site_in(campaign, place, request.GET.get("site"))
    rows = queries.alarm_rows(campaign, kind, queries.sites_in(campaign, place, site))
    if kind == "recall":
        rows = rows.select_related("person__ward", "tube__site").order_by("decided_at", "id")
    else:
        rows = rows.select_related("site__ward").order_by("opened_at", "id")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    if kind == "recall":  # people with a result: one audit event each, before rendering
        audit.record_views(
            by=request.user,
            action="dashboard.recall_viewed",
            subjects=[outcome.person for outcome in page],
            campaign=str(campaign.public_id),
        )
    limits = services.thresholds(campaign)
    return render(
        request,
        "dashboard/alarm.html",
        {
            "campaign": campaign,
            "place": place,
            "site": site,
            "kind": kind,
            "label": queries.ALARM_KINDS[kind][0],
            "minutes": getattr(limits, f"{kind}_minutes"),
            "page": page,
            "back": reverse("dashboard:progress", kwargs={"public_id": campaign.public_id})
            + "?"
            + urlencode({"place": place.code} | ({"site": str(site.public_id)} if site else {})),
        },
    )


@login_required
def thresholds(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The campaign's alarm thresholds, for officials who manage the campaign."""
    _require(request)
    campaign = _campaign(request, public_id)
    if not has_permission(request.user, Permission.MANAGE_CAMPAIGNS, campaign):
        raise PermissionDenied
    current = services.thresholds(campaign)
    form = ThresholdsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        services.set_thresholds(
            by=request.user,
            campaign=campaign,
            minutes={f: form.cleaned_data[f] for f in services.THRESHOLD_FIELDS},
        )
        messages.success(request, _("Alarm thresholds saved."))
        return redirect("dashboard:progress", public_id=campaign.public_id)
    return render(request, "dashboard/thresholds.html", {"campaign": campaign, "form": form})
