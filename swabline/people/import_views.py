"""Pages for bulk imports: upload, preview with per-row errors, commit with progress."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission, scoped
from swabline.people import importing
from swabline.people.models import ImportMode, PeopleImport
from swabline.places.enums import Level, System
from swabline.places.models import Place

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UploadForm(forms.Form):
    file = forms.FileField(label=_("List (XLSX or CSV)"))
    place = forms.ModelChoiceField(
        label=_("Import into"), queryset=Place.objects.none(), empty_label=None
    )
    mode = forms.ChoiceField(
        label=_("If some rows have errors"),
        choices=ImportMode.choices,
        initial=ImportMode.VALID_ROWS,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: object, user: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # The wards (and provinces) inside the user's import scope.
        places = scoped(
            Place.objects.filter(system=System.CURRENT, level__in=[Level.PROVINCE, Level.WARD]),
            user,
            Permission.IMPORT_PEOPLE,
            place_path="path",
        )
        self.fields["place"].queryset = places.order_by("level", "name_folded")  # type: ignore[attr-defined]


def _imports(request: HttpRequest) -> object:
    return scoped(
        PeopleImport.objects.select_related("place", "uploaded_by"),
        request.user,
        Permission.IMPORT_PEOPLE,
        place_path="place__path",
    )


def _get(request: HttpRequest, public_id: str) -> PeopleImport:
    if not has_permission(request.user, Permission.IMPORT_PEOPLE):
        raise PermissionDenied
    return get_scoped_or_404(
        PeopleImport.objects.select_related("place", "uploaded_by"),
        request.user,
        Permission.IMPORT_PEOPLE,
        public_id=public_id,
    )


@login_required
@require_http_methods(["GET", "POST"])
def import_start(request: HttpRequest) -> HttpResponse:
    """Upload a list; it is checked at once and the preview shows what would happen."""
    if not has_permission(request.user, Permission.IMPORT_PEOPLE):
        raise PermissionDenied
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
    problem = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            imp = importing.create_import(
                by=request.user,
                place=form.cleaned_data["place"],
                uploaded_file_or_path=upload,
                filename=upload.name,
                mode=form.cleaned_data["mode"],
            )
        except importing.ImportRejected as exc:
            problem = " ".join(exc.messages)
        else:
            importing.validate_import(imp)
            return redirect("people:import-detail", public_id=imp.public_id)
    recent = _imports(request).order_by("-created_at")[:10]  # type: ignore[attr-defined]
    return render(
        request, "people/import_start.html", {"form": form, "problem": problem, "recent": recent}
    )


@login_required
def import_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    imp = _get(request, public_id)
    return render(
        request, "people/import_detail.html", {"imp": imp, "preview": importing.preview_of(imp)}
    )


@login_required
def import_progress(request: HttpRequest, public_id: str) -> HttpResponse:
    """The progress fragment, polled by htmx while the worker imports."""
    imp = _get(request, public_id)
    return render(request, "people/_import_progress.html", {"imp": imp})


@login_required
@require_POST
def import_commit(request: HttpRequest, public_id: str) -> HttpResponse:
    imp = _get(request, public_id)
    mode = request.POST.get("mode") or imp.mode
    try:
        importing.queue_import(imp=imp, by=request.user, mode=mode)
    except importing.ImportRejected as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("people:import-detail", public_id=imp.public_id)


@login_required
def import_failing_rows(request: HttpRequest, public_id: str) -> HttpResponse:
    imp = _get(request, public_id)
    response = HttpResponse(importing.failing_rows_xlsx(imp), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="loi-{imp.public_id}.xlsx"'
    return response


@login_required
def import_template(request: HttpRequest) -> HttpResponse:
    if not has_permission(request.user, Permission.IMPORT_PEOPLE):
        raise PermissionDenied
    response = HttpResponse(importing.template_xlsx(), content_type=XLSX)
    response["Content-Disposition"] = 'attachment; filename="swabline-mau-danh-sach.xlsx"'
    return response
