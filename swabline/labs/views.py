"""Lab pages: the lab's home, the worklist, the keyboard bench for results, uploads,
the supervisor's review and release, corrections, worklist alarms. Thin: rules live
in `services`, `uploads` and `swabline.results.services`."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission, scoped
from swabline.campaigns.models import Campaign
from swabline.labs import queries, services, uploads
from swabline.labs.enums import ResultState, ResultValue, UploadStatus
from swabline.labs.forms import AlarmForm, CorrectionForm, MappingForm, UploadForm
from swabline.labs.models import ColumnMapping, Lab, LabCampaignSettings, ResultUpload, TubeResult
from swabline.sampling.codes import normalize_tube_code
from swabline.sampling.models import Tube

DEFAULT_TARGETS = ("E", "N", "ORF1ab")


def _lab(request: HttpRequest, public_id: Any, perm: Permission) -> Lab:
    """The lab, if the user holds `perm` there: 403 without it anywhere, 404 elsewhere."""
    if not has_permission(request.user, perm):
        raise PermissionDenied
    return get_scoped_or_404(
        Lab.objects.select_related("place"), request.user, perm, public_id=public_id
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# --- Home -----------------------------------------------------------------------------


@login_required
def lab_list(request: HttpRequest) -> HttpResponse:
    if not has_permission(request.user, Permission.RECEIVE_TUBES):
        raise PermissionDenied
    labs = list(
        scoped(
            Lab.objects.select_related("place"),
            request.user,
            Permission.RECEIVE_TUBES,
            place_path="place__path",
            lab="id",
        )
    )
    if len(labs) == 1:  # a lab's staff go straight to their lab's home
        return redirect("labs:detail", labs[0].public_id)
    return render(request, "labs/list.html", {"labs": labs})


@login_required
def lab_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    lab = _lab(request, public_id, Permission.RECEIVE_TUBES)
    user = request.user
    rows = queries.worklist(lab, limit=200)
    context = {
        "lab": lab,
        "counts": queries.lab_counts(lab),
        "late": sum(1 for r in rows if r.level != "ok"),
        "alarms": sum(1 for r in rows if r.level == "alarm"),
        "can_enter": has_permission(user, Permission.ENTER_RESULTS, lab),
        "can_release": has_permission(user, Permission.RELEASE_RESULTS, lab),
        "receipt_url": _receipt_url(),
        "campaigns": _campaigns_at(lab),
    }
    return render(request, "labs/detail.html", context)


def _receipt_url() -> str | None:
    from django.urls import NoReverseMatch

    for name in ("shipping:receipt_list", "shipping:list"):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def _campaigns_at(lab: Lab) -> list[tuple[Campaign, tuple[int, int]]]:
    ids = set(queries.tubes_at_lab(lab).order_by().values_list("campaign_id", flat=True).distinct())
    hours = queries.alarm_hours(ids)
    return [(c, hours[c.pk]) for c in Campaign.objects.filter(pk__in=ids).order_by("name")]


@login_required
def worklist(request: HttpRequest, public_id: str) -> HttpResponse:
    lab = _lab(request, public_id, Permission.RECEIVE_TUBES)
    rows = queries.worklist(lab)
    total = queries.awaiting_result(lab).count()
    return render(request, "labs/worklist.html", {"lab": lab, "rows": rows, "total": total})


@login_required
@require_http_methods(["GET", "POST"])
def alarm_settings(request: HttpRequest, public_id: str, campaign_id: str) -> HttpResponse:
    if not (
        has_permission(request.user, Permission.MANAGE_CAMPAIGNS)
        or has_permission(request.user, Permission.RELEASE_RESULTS)
    ):
        raise PermissionDenied
    lab = get_object_or_404(Lab.objects.select_related("place"), public_id=public_id)
    campaign = get_object_or_404(Campaign, public_id=campaign_id)
    if not services.can_edit_settings(request.user, lab, campaign):
        raise Http404
    current = LabCampaignSettings.objects.filter(campaign=campaign).first()
    hours = queries.alarm_hours({campaign.pk})[campaign.pk]
    form = AlarmForm(
        request.POST or None, initial={"warning_hours": hours[0], "alarm_hours": hours[1]}
    )
    if request.method == "POST" and form.is_valid():
        services.set_worklist_alarms(
            by=request.user,
            lab=lab,
            campaign=campaign,
            warning_hours=form.cleaned_data["warning_hours"],
            alarm_hours=form.cleaned_data["alarm_hours"],
        )
        messages.success(request, _("Worklist alarms saved."))
        return redirect("labs:alarms", lab.public_id, campaign.public_id)
    context = {"lab": lab, "campaign": campaign, "form": form, "saved": current}
    return render(request, "labs/alarms.html", context)


# --- The bench: results tube by tube -------------------------------------------------


def _targets(lab: Lab) -> list[str]:
    saved = ColumnMapping.objects.filter(lab=lab).order_by("-updated_at").first()
    targets = list((saved.columns.get("ct") or {}).keys()) if saved else []
    return targets[: services.MAX_TARGETS] or list(DEFAULT_TARGETS)


def _recent_html(request: HttpRequest, lab: Lab) -> str:
    recent = queries.recent_entries(lab, request.user)
    return render_to_string("labs/_recent.html", {"lab": lab, "recent": recent}, request=request)


@login_required
@require_GET
def entry(request: HttpRequest, public_id: str) -> HttpResponse:
    lab = _lab(request, public_id, Permission.ENTER_RESULTS)
    context = {
        "lab": lab,
        "targets": _targets(lab),
        "recent": queries.recent_entries(lab, request.user),
        "values": ResultValue,
    }
    return render(request, "labs/entry.html", context)


@login_required
@require_GET
def entry_tube(request: HttpRequest, public_id: str) -> HttpResponse:
    """The scanned tube: its people count, campaign, and any result it holds."""
    lab = _lab(request, public_id, Permission.ENTER_RESULTS)
    code = normalize_tube_code(request.GET.get("code", ""))
    tube = (
        queries.tubes_at_lab(lab).filter(code=code).select_related("campaign", "site").first()
        if code
        else None
    )
    if tube is None:
        exists = bool(code) and Tube.objects.filter(code=code).exists()
        key = "not_at_lab" if exists else "unknown_tube"
        return JsonResponse({"ok": False, "message": str(services.MESSAGES[key])})
    if tube.status == "rejected":
        return JsonResponse({"ok": False, "message": str(services.MESSAGES["rejected"])})
    current = TubeResult.objects.filter(tube=tube, current=True).first()
    html = render_to_string(
        "labs/_tube.html", {"tube": tube, "current": current, "lab": lab}, request=request
    )
    return JsonResponse({"ok": True, "code": tube.code, "html": html})


@login_required
@require_POST
def entry_save(request: HttpRequest, public_id: str) -> HttpResponse:
    lab = _lab(request, public_id, Permission.ENTER_RESULTS)
    code = request.POST.get("tube") or request.POST.get("code", "")
    ct = {
        key[3:]: value
        for key in request.POST
        if key.startswith("ct_") and (value := request.POST.get(key, "").strip())
    }
    answer: dict[str, Any]
    try:
        done = services.record_result(
            by=request.user,
            lab=lab,
            tube_code=code,
            value=request.POST.get("value", ""),
            ct_values=ct,
            replace=request.POST.get("replace") in ("1", "on", "true"),
        )
    except services.ResultRefused as exc:
        answer = {"ok": False, "code": exc.code, "message": exc.messages[0]}
    else:
        tube_code = done.result.tube.code
        label = ResultValue(done.result.value).label
        text = {
            "created": _("%(tube)s: %(value)s saved."),
            "replaced": _("%(tube)s: replaced by %(value)s."),
        }.get(done.fate, _("%(tube)s: %(value)s was already recorded."))
        answer = {
            "ok": True,
            "fate": done.fate,
            "message": text % {"tube": tube_code, "value": label},
        }
    if not _wants_json(request):
        _flash(request, answer)
        return redirect("labs:entry", lab.public_id)
    answer["recent"] = _recent_html(request, lab)
    return JsonResponse(answer, status=200 if answer["ok"] else 409)


def _flash(request: HttpRequest, answer: dict[str, Any]) -> None:
    if answer["ok"]:
        messages.success(request, str(answer["message"]))
    else:
        messages.error(request, str(answer["message"]))


@login_required
@require_POST
def entry_undo(request: HttpRequest, public_id: str) -> HttpResponse:
    lab = _lab(request, public_id, Permission.ENTER_RESULTS)
    answer: dict[str, Any]
    try:
        result = services.discard_result(
            by=request.user, lab=lab, tube_code=request.POST.get("code", "")
        )
    except services.ResultRefused as exc:
        answer = {"ok": False, "message": exc.messages[0]}
    else:
        answer = {
            "ok": True,
            "message": _("%(tube)s: result undone; the tube is back on the worklist.")
            % {"tube": result.tube.code},
        }
    if not _wants_json(request):
        _flash(request, answer)
        return redirect("labs:entry", lab.public_id)
    answer["recent"] = _recent_html(request, lab)
    return JsonResponse(answer, status=200 if answer["ok"] else 409)


# --- Uploads ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def upload_list(request: HttpRequest, public_id: str) -> HttpResponse:
    lab = _lab(request, public_id, Permission.ENTER_RESULTS)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        file = form.cleaned_data["file"]
        try:
            upload = uploads.create_upload(by=request.user, lab=lab, file=file, file_name=file.name)
        except uploads.UploadRefused as exc:
            form.add_error("file", exc.messages[0])
        else:
            return redirect("labs:upload", lab.public_id, upload.public_id)
    recent = ResultUpload.objects.filter(lab=lab).select_related("uploaded_by")[:20]
    return render(request, "labs/uploads.html", {"lab": lab, "form": form, "uploads": recent})


@login_required
@require_http_methods(["GET", "POST"])
def upload_detail(request: HttpRequest, public_id: str, upload_id: str) -> HttpResponse:
    lab = _lab(request, public_id, Permission.ENTER_RESULTS)
    upload = get_object_or_404(ResultUpload, lab=lab, public_id=upload_id)
    context: dict[str, Any] = {"lab": lab, "upload": upload}
    try:
        prepared = uploads.prepare(upload)
    except uploads.UploadRefused as exc:
        context["refused"] = exc.messages[0]
        return render(request, "labs/upload.html", context)
    form = MappingForm(request.POST or None, header=prepared.header, mapping=prepared.mapping)
    context.update(form=form, prepared=prepared, earlier=uploads.same_file_applied(upload))
    if request.method == "POST" and upload.status != UploadStatus.APPLIED and form.is_valid():
        mapping = form.mapping()
        try:
            if request.POST.get("action") == "apply":
                uploads.apply_upload(
                    by=request.user,
                    upload=upload,
                    mapping=mapping,
                    leave_out_errors=request.POST.get("leave_out") == "1",
                )
                messages.success(
                    request,
                    ngettext(
                        "%(n)s result entered; it waits for a supervisor's release.",
                        "%(n)s results entered; they wait for a supervisor's release.",
                        upload.created,
                    )
                    % {"n": upload.created},
                )
            else:
                uploads.save_mapping(by=request.user, lab=lab, mapping=mapping)
                uploads.validate_upload(
                    by=request.user, upload=upload, mapping=mapping, prepared=prepared
                )
        except uploads.UploadRefused as exc:
            messages.error(request, exc.messages[0])
        return redirect("labs:upload", lab.public_id, upload.public_id)
    context["checked"] = upload.mapping_id is not None or upload.rows > 0
    return render(request, "labs/upload.html", context)


# --- Review and release ----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest, public_id: str) -> HttpResponse:
    lab = _lab(request, public_id, Permission.RELEASE_RESULTS)
    if request.method == "POST":
        return _release(request, lab)
    pending = list(queries.awaiting_release(lab)[:2000])
    context = {"lab": lab, "pending": pending, "client_id": uuid.uuid4()}
    return render(request, "labs/review.html", context)


def _release(request: HttpRequest, lab: Lab) -> HttpResponse:
    from swabline.results.services import release_results

    codes = [normalize_tube_code(c) for c in request.POST.getlist("tube")]
    ids = list(
        TubeResult.objects.filter(
            lab=lab, current=True, state=ResultState.ENTERED, tube__code__in=codes
        ).values_list("id", flat=True)
    )
    try:
        client_id = uuid.UUID(request.POST.get("client_id", ""))
    except ValueError:
        client_id = None
    if not ids:
        from swabline.results.models import Release

        if client_id and Release.objects.filter(lab=lab, client_id=client_id).exists():
            messages.info(request, _("These results were already released."))
        else:
            messages.error(request, _("Select the results to release."))
        return redirect("labs:review", lab.public_id)
    waiting = TubeResult.objects.filter(pk__in=ids, tube__names_missing_since__isnull=False).count()
    release = release_results(
        by=request.user,
        lab=lab,
        result_ids=ids,
        client_id=client_id,
        note=request.POST.get("note", "")[:500],
    )
    if waiting:
        messages.warning(
            request,
            ngettext(
                "%(n)s tube waits for its names (paper list not entered): not released.",
                "%(n)s tubes wait for their names (paper list not entered): not released.",
                waiting,
            )
            % {"n": waiting},
        )
    messages.success(
        request,
        ngettext(
            "Released %(tubes)s tube: %(people)s people get their result.",
            "Released %(tubes)s tubes: %(people)s people get their result.",
            release.tubes,
        )
        % {"tubes": release.tubes, "people": release.people},
    )
    return redirect("labs:review", lab.public_id)


# --- A tube at the lab: its results, and corrections -----------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def tube_detail(request: HttpRequest, public_id: str, code: str) -> HttpResponse:
    lab = _lab(request, public_id, Permission.ENTER_RESULTS)
    code = normalize_tube_code(code)
    tube = queries.tubes_at_lab(lab).filter(code=code).select_related("campaign").first()
    if tube is None:
        raise Http404
    current = TubeResult.objects.filter(tube=tube, current=True).first()
    can_correct = has_permission(request.user, Permission.RELEASE_RESULTS, lab)
    form = CorrectionForm(request.POST or None)
    if request.method == "POST":
        if not can_correct:
            raise PermissionDenied
        if current is None or current.state != ResultState.RELEASED:
            messages.error(request, _("Only a released result can be corrected."))
        elif form.is_valid():
            from swabline.results.services import amend_result

            try:
                amend_result(
                    by=request.user,
                    result=current,
                    value=form.cleaned_data["value"],
                    ct_values=current.ct_values,
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                messages.error(request, exc.messages[0])
            else:
                messages.success(request, _("The result was corrected."))
                return redirect("labs:tube", lab.public_id, tube.code)
    context = {
        "lab": lab,
        "tube": tube,
        "current": current,
        "history": queries.history(tube),
        "form": form,
        "can_correct": can_correct and current is not None and current.state == "released",
    }
    return render(request, "labs/tube.html", context)
