"""Staff pages for people's data requests: record one, download an access export,
confirm an erasure. Rules and audit events live in `data_requests`."""

from __future__ import annotations

import json
import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from swabline.accounts.permissions import get_scoped_or_404, has_permission
from swabline.people import data_requests, queries
from swabline.people.data_requests import PERM, REASON_MAX
from swabline.people.enums import DataRequestKind, DataRequestStatus
from swabline.people.models import DataRequest

PAGE_SIZE = 50


class RequestForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("What the person asks for"),
        choices=DataRequestKind.choices,
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason (the letter, form or visit it came from)"),
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": data_requests.REASON_MISSING},
    )
    client_id = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={
            "required": gettext_lazy("The form was incomplete: send it again."),
            "invalid": gettext_lazy("The form was incomplete: send it again."),
        },
    )


def _require(request: HttpRequest) -> None:
    if not has_permission(request.user, PERM):
        raise PermissionDenied


def _get(request: HttpRequest, public_id: uuid.UUID) -> DataRequest:
    _require(request)
    return get_scoped_or_404(
        data_requests.visible_requests(request.user), request.user, PERM, public_id=public_id
    )


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    """The requests in the user's places, and a search to record a new one."""
    _require(request)
    q = request.GET.get("q", "").strip()
    found = queries.find_people(request.user, q, limit=20, perm=PERM) if q else []
    page = Paginator(data_requests.visible_requests(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "people/requests/list.html", {"q": q, "found": found, "page": page})


@login_required
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest, public_id: str) -> HttpResponse:
    """Record a request of the person with this public id."""
    _require(request)
    person = get_scoped_or_404(
        queries.visible_people(request.user, PERM), request.user, PERM, public_id=public_id
    )
    form = RequestForm(request.POST or None, initial={"client_id": uuid.uuid4()})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                recorded = data_requests.record_request(
                    by=request.user,
                    person=person,
                    kind=form.cleaned_data["kind"],
                    reason=form.cleaned_data["reason"],
                    client_id=form.cleaned_data["client_id"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("The request is recorded."))
                return redirect("people:request-detail", public_id=recorded.public_id)
        status = 400
    context = {"person": person, "form": form}
    return render(request, "people/requests/new.html", context, status=status)


@login_required
@require_GET
def request_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    data_request = _get(request, public_id)
    return render(request, "people/requests/detail.html", _detail_context(data_request))


def _detail_context(data_request: DataRequest, problem: str = "") -> dict[str, object]:
    is_open = data_request.status == DataRequestStatus.OPEN
    return {
        "req": data_request,
        "person": data_request.person,
        "can_erase": is_open and data_request.kind == DataRequestKind.ERASURE,
        "can_export": data_request.kind == DataRequestKind.ACCESS,
        "problem": problem,
    }


@never_cache
@login_required
@require_GET
def request_export(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The access export as a JSON file (audited; the request is done from then on)."""
    data_request = _get(request, public_id)
    try:
        report = data_requests.access_export(by=request.user, request=data_request)
    except ValidationError as exc:
        return _problem(request, data_request, exc)
    body = json.dumps(report, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    name = f"swabline-access-{data_request.public_id}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def request_erase(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Erase once the person's code has been typed again (the confirmation)."""
    data_request = _get(request, public_id)
    try:
        erased = data_requests.erase_on_request(
            by=request.user, request=data_request, typed_code=request.POST.get("code", "")
        )
    except ValidationError as exc:
        return _problem(request, data_request, exc)
    if erased:
        messages.success(request, _("The person's personal data is erased."))
    return redirect("people:request-detail", public_id=data_request.public_id)


def _problem(request: HttpRequest, data_request: DataRequest, exc: ValidationError) -> HttpResponse:
    context = _detail_context(data_request, " ".join(exc.messages))
    return render(request, "people/requests/detail.html", context, status=400)
