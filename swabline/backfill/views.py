"""Pages of the paper backfill: the keyboard-only entry screen (and its small JSON
calls), the names-missing list with the backlog figures, the spreadsheet path."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.backfill import queries, services, spreadsheet
from swabline.backfill.enums import EntrySource
from swabline.campaigns.models import Campaign, Site
from swabline.people.models import Person
from swabline.people.queries import find_people
from swabline.people.services import PersonInput
from swabline.places.models import Place
from swabline.sampling import services as sampling
from swabline.sampling.enums import SampleKind
from swabline.sampling.models import Sample

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIND_LIMIT = 8


def _require_backfill(request: HttpRequest) -> None:
    if not has_permission(request.user, Permission.BACKFILL_SAMPLES):
        raise PermissionDenied


def _site(request: HttpRequest, public_id: Any) -> Site:
    """A site the user may backfill at; 404 otherwise (out of scope looks missing)."""
    try:
        site = queries.backfill_sites(request.user).get(public_id=public_id)
    except (Site.DoesNotExist, ValueError, ValidationError) as exc:
        raise Http404 from exc
    return site


def person_json(person: Person) -> dict[str, Any]:
    return {
        "id": person.public_id,
        "name": person.full_name,
        "year": person.birth_year,
        "code": person.code,
        "ward": person.ward.name if person.ward_id else "",
    }


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The backfill screen: label, site, sheet, time, then people row by row."""
    _require_backfill(request)
    sites = list(queries.backfill_sites(request.user))
    local_now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    return render(
        request,
        "backfill/home.html",
        {
            "sites": sites,
            "now": local_now,
            "recent": queries.recent_entries(request.user),
            "waiting": queries.waiting_for_names(request.user),
        },
    )


@login_required
@require_GET
def find(request: HttpRequest) -> JsonResponse:
    """People for one typed row: name without diacritics + year, phone, CCCD or code."""
    _require_backfill(request)
    site = _site(request, request.GET.get("site", ""))
    text = request.GET.get("q", "").strip()[:100]
    if not text:
        return JsonResponse({"people": []})
    try:
        people = find_people(request.user, text, limit=FIND_LIMIT)
    except ValidationError as exc:
        return JsonResponse({"people": [], "error": " ".join(exc.messages)})
    # Already sampled in this campaign: said at the row, not only when the tube closes.
    sampled = dict(
        Sample.objects.filter(
            person__in=people, campaign_id=site.campaign_id, active=True, kind=SampleKind.NORMAL
        ).values_list("person_id", "tube__code")
    )
    rows = []
    for p in people:
        row = person_json(p)
        if p.pk in sampled:
            row["sampled_in"] = sampled[p.pk]
            row["problem"] = _("%(name)s was already sampled in tube %(code)s.") % {
                "name": p.full_name,
                "code": sampled[p.pk],
            }
        rows.append(row)
    return JsonResponse({"site": str(site.public_id), "people": rows})


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise ValidationError(_("The request is not valid JSON.")) from exc
    if not isinstance(data, dict):
        raise ValidationError(_("The request is not valid JSON."))
    return data


def _errors(exc: ValidationError) -> JsonResponse:
    if hasattr(exc, "error_dict"):
        return JsonResponse({"errors": exc.message_dict}, status=400)
    return JsonResponse({"errors": {"__all__": exc.messages}}, status=400)


@login_required
@require_POST
def register(request: HttpRequest) -> JsonResponse:
    """Quick-register a person in the row (idempotent on the row's client id)."""
    _require_backfill(request)
    try:
        data = _body(request)
        site = _site(request, data.get("site", ""))
        client_id = uuid.UUID(str(data.get("client_id", "")))
    except (ValidationError, ValueError):
        return JsonResponse({"errors": {"__all__": [_("Bad request.")]}}, status=400)
    sex = spreadsheet.SEXES.get(str(data.get("sex", "")).strip().lower(), "")
    person_input = PersonInput(
        full_name=str(data.get("full_name", ""))[:150],
        birth=str(data.get("birth", ""))[:10],
        sex=sex,
        ward=site.ward,
        phone=str(data.get("phone", ""))[:20],
        national_id=str(data.get("national_id", ""))[:12],
    )
    try:
        done = sampling.quick_register(
            by=request.user, site=site, client_id=client_id, data=person_input
        )
    except ValidationError as exc:
        return _errors(exc)
    return JsonResponse({"person": person_json(done.person), "created": done.created})


@login_required
@require_POST
def enter(request: HttpRequest) -> JsonResponse:
    """Close the paper tube: everything typed on the screen, in one transaction."""
    _require_backfill(request)
    try:
        data = _body(request)
        site = _site(request, data.get("site", ""))
        client_id = uuid.UUID(str(data.get("client_id", "")))
    except (ValidationError, ValueError):
        return JsonResponse({"errors": {"__all__": [_("Bad request.")]}}, status=400)
    ids = [str(i) for i in data.get("people", []) if i][:60]
    people_by_id = {p.public_id: p for p in Person.objects.filter(public_id__in=ids)}
    people = [people_by_id[i] for i in ids if i in people_by_id]
    if len(people) != len(ids):
        return JsonResponse({"errors": {"people": [_("Unknown people.")]}}, status=400)
    collected_at = _parse_local(str(data.get("collected_at", "")))
    duration = data.get("duration_seconds")
    try:
        entered = services.enter_paper_tube(
            by=request.user,
            site=site,
            paper=services.PaperTube(
                code=str(data.get("code", ""))[:40],
                collected_at=collected_at,  # type: ignore[arg-type]
                sheet_ref=str(data.get("sheet_ref", ""))[:200],
                people=people,
            ),
            client_id=client_id,
            duration_seconds=float(duration) if isinstance(duration, int | float) else None,
            source=EntrySource.SCREEN,
        )
    except ValidationError as exc:
        return _errors(exc)
    entry = entered.entry
    return JsonResponse(
        {
            "tube": entry.tube.code,
            "people": entry.people,
            "sheet_ref": entry.sheet_ref,
            "names_missing": entry.names_missing_since is not None,
            "releasable": entered.releasable,
            "replayed": entered.replayed,
        }
    )


def _parse_local(text: str) -> dt.datetime | None:
    value = parse_datetime(text.strip()) if text.strip() else None
    if value is None:
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


# --- The list of names-missing tubes and the backlog figures -------------------------


def _campaign_and_place(
    request: HttpRequest,
) -> tuple[Campaign | None, Place | None, list[Campaign]]:
    sites = queries.visible_sites(request.user)
    campaigns = list(Campaign.objects.filter(pk__in=sites.values("campaign_id")).order_by("-id"))
    wanted = request.GET.get("campaign", "").strip()
    campaign = None
    for c in campaigns:
        if wanted in (str(c.pk), str(c.public_id)):
            campaign = c
    if campaign is None and campaigns and not wanted:
        campaign = campaigns[0]
    if wanted and campaign is None:
        raise Http404
    code = request.GET.get("place", "").strip()
    place = None
    if code:
        place = Place.objects.filter(code=code).order_by("system").first()
        if place is None:
            raise Http404
    return campaign, place, campaigns


class DeclareForm(forms.Form):
    site = forms.UUIDField(widget=forms.HiddenInput)
    tubes = forms.IntegerField(
        label=gettext_lazy("Paper tubes not entered"), min_value=0, max_value=services.MAX_BACKLOG
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=300, required=False)


@login_required
@require_GET
def names_missing(request: HttpRequest) -> HttpResponse:
    """Names-missing tubes at labs (the top alarm) and the backlog figures, scoped."""
    if not any(has_permission(request.user, p) for p in queries.READERS):
        raise PermissionDenied
    campaign, place, campaigns = _campaign_and_place(request)
    figures = queries.backlog(request.user, campaign, place) if campaign else None
    tubes = list(queries.names_missing(request.user, campaign, place)[:500])
    now = timezone.now()
    rows = [(t, (now - (t.names_missing_since or now)).total_seconds() / 3600) for t in tubes]
    can_declare = {
        s.site.pk
        for s in (figures.sites if figures else [])
        if has_permission(request.user, Permission.BACKFILL_SAMPLES, s.site)
    }
    return render(
        request,
        "backfill/names_missing.html",
        {
            "campaign": campaign,
            "campaigns": campaigns,
            "place": place,
            "backlog": figures,
            "rows": rows,
            "can_declare": can_declare,
        },
    )


@login_required
@require_GET
def backlog_panel(request: HttpRequest) -> HttpResponse:
    """The paper backlog's totals for the command center (loaded into its page)."""
    if not any(has_permission(request.user, p) for p in queries.READERS):
        raise PermissionDenied
    campaign, place, _ = _campaign_and_place(request)
    figures = queries.backlog(request.user, campaign, place) if campaign else None
    return render(
        request,
        "backfill/_backlog_panel.html",
        {"campaign": campaign, "place": place, "total": figures.total if figures else None},
    )


@login_required
@require_POST
def declare(request: HttpRequest) -> HttpResponse:
    """A site declares its paper tubes not entered yet."""
    _require_backfill(request)
    form = DeclareForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Type a number of tubes (0 or more)."))
        return redirect("backfill:names-missing")
    site = _site(request, form.cleaned_data["site"])
    services.declare_backlog(
        by=request.user, site=site, tubes=form.cleaned_data["tubes"], note=form.cleaned_data["note"]
    )
    messages.success(request, _("Paper backlog recorded."))
    return redirect(f"{_url('backfill:names-missing')}?campaign={site.campaign_id}")


def _url(name: str) -> str:
    from django.urls import reverse

    return reverse(name)


# --- Spreadsheet ------------------------------------------------------------------------


@login_required
@require_GET
def template(request: HttpRequest) -> HttpResponse:
    _require_backfill(request)
    response = HttpResponse(spreadsheet.template_xlsx(), content_type=XLSX)
    response["Content-Disposition"] = 'attachment; filename="paper-tubes.xlsx"'
    return response


class UploadForm(forms.Form):
    site = forms.ChoiceField(label=gettext_lazy("Site"))
    file = forms.FileField(label=gettext_lazy("Spreadsheet (XLSX)"))

    def __init__(self, *args: Any, sites: list[Site], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["site"]
        field.choices = [(str(s.public_id), f"{s.name} — {s.campaign.name}") for s in sites]


MAX_UPLOAD_BYTES = 5 * 1024 * 1024


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a spreadsheet of paper tubes: all rows committed, or none with every error."""
    _require_backfill(request)
    sites = list(queries.backfill_sites(request.user))
    form = UploadForm(request.POST or None, request.FILES or None, sites=sites)
    errors: list[spreadsheet.RowError] = []
    done = None
    if request.method == "POST" and form.is_valid():
        site = _site(request, form.cleaned_data["site"])
        file = form.cleaned_data["file"]
        if file.size > MAX_UPLOAD_BYTES:
            errors = [spreadsheet.RowError(0, "", _("The file is too big (5 MB at most)."))]
        else:
            try:
                done, errors = spreadsheet.upload(
                    by=request.user, site=site, file_name=file.name, content=file.read()
                )
            except ValidationError as exc:
                errors = [spreadsheet.RowError(0, "", m) for m in exc.messages]
    return render(request, "backfill/upload.html", {"form": form, "errors": errors, "done": done})
