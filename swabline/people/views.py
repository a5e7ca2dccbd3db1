"""Staff pages for people: search, register, see one, merge, export and print."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission, place_paths
from swabline.audit import services as audit
from swabline.people import documents, exports, qr, queries
from swabline.people.enums import DeclarationSource
from swabline.people.forms import HouseholdForm, MemberFormSet, attach_service_errors, member_inputs
from swabline.people.models import Person
from swabline.people.public_views import ward_picker
from swabline.people.services import MembersInvalid, merge_people, register_household
from swabline.places.enums import Level, System
from swabline.places.models import Place


def _require(request: HttpRequest, perm: Permission) -> None:
    if not has_permission(request.user, perm):
        raise PermissionDenied


LIST_SIZE = 50


@login_required
def person_list(request: HttpRequest) -> HttpResponse:
    _require(request, Permission.VIEW_PEOPLE)
    query = request.GET.get("q", "")
    more = False
    if query.strip():
        # A search shows the best matches, ranked, without counting them all.
        found = queries.find_people(request.user, query, limit=LIST_SIZE + 1)
        more = len(found) > LIST_SIZE
        page: Any = found[:LIST_SIZE]
    else:
        page = Paginator(queries.search_people(request.user, ""), LIST_SIZE).get_page(
            request.GET.get("page")
        )
    return render(
        request,
        "people/list.html",
        {
            "page": page,
            "more": more,
            "query": query,
            "can_register": has_permission(request.user, Permission.REGISTER_PEOPLE),
            "can_export": has_permission(request.user, Permission.EXPORT_DATA),
            "can_import": has_permission(request.user, Permission.IMPORT_PEOPLE),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def person_new(request: HttpRequest) -> HttpResponse:
    """Register someone who came with nothing (or a whole household), in the staff's area."""
    _require(request, Permission.REGISTER_PEOPLE)
    allowed = list(place_paths(request.user, Permission.REGISTER_PEOPLE))
    everywhere = not allowed and has_permission(request.user, Permission.REGISTER_PEOPLE)
    household = HouseholdForm(
        request.POST or None, prefix="h", allowed_paths=None if everywhere else allowed
    )
    members = MemberFormSet(request.POST or None, prefix="m")
    if request.method == "POST" and household.is_valid() and members.is_valid():
        try:
            registrations = register_household(
                members=member_inputs(household, members),
                by=request.user,
                source=DeclarationSource.STAFF,
            )
        except MembersInvalid as exc:
            attach_service_errors(exc, household, members)
        else:
            created = sum(r.created for r in registrations)
            messages.success(
                request,
                _("Registered %(new)d new, found %(old)d already registered.")
                % {"new": created, "old": len(registrations) - created},
            )
            return redirect("people:detail", public_id=registrations[0].person.public_id)
    return render(
        request,
        "people/new.html",
        {"household": household, "members": members, **ward_picker(request, household)},
    )


@login_required
def person_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    _require(request, Permission.VIEW_PEOPLE)
    person = get_scoped_or_404(
        queries.visible_people(request.user),
        request.user,
        Permission.VIEW_PEOPLE,
        public_id=public_id,
    )
    # Before anything is shown: no event, no page (AuditFailed answers 503).
    audit.record_view(
        by=request.user, action="people.viewed", subject=person, province_code=person.province_code
    )
    can_merge = has_permission(request.user, Permission.MERGE_PEOPLE, person)
    household = (
        queries.visible_people(request.user)
        .filter(household_key=person.household_key)
        .exclude(pk=person.pk)
        if person.household_key
        else Person.objects.none()
    )
    return render(
        request,
        "people/detail.html",
        {
            "person": person,
            "svg": qr.qr_svg(qr.encode_payload(person), scale=5),
            "declarations": person.declarations.all()[:10],
            "household": household[:20],
            "duplicates": queries.possible_duplicates(person, request.user) if can_merge else [],
            "can_merge": can_merge,
            "can_help": has_permission(request.user, Permission.HELP_CITIZENS, person),
            "can_request": has_permission(request.user, Permission.HANDLE_DATA_REQUESTS, person),
        },
    )


@login_required
def person_card(request: HttpRequest, public_id: str) -> HttpResponse:
    _require(request, Permission.VIEW_PEOPLE)
    person = get_scoped_or_404(
        queries.visible_people(request.user),
        request.user,
        Permission.VIEW_PEOPLE,
        public_id=public_id,
    )
    response = HttpResponse(documents.person_card_pdf(person), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="swabline-{person.code}.pdf"'
    return response


@login_required
@require_POST
def person_merge(request: HttpRequest, public_id: str) -> HttpResponse:
    """Merge another record (a duplicate) into this one."""
    _require(request, Permission.MERGE_PEOPLE)
    visible = queries.visible_people(request.user, Permission.MERGE_PEOPLE)
    survivor = get_scoped_or_404(
        visible, request.user, Permission.MERGE_PEOPLE, public_id=public_id
    )
    duplicate = get_scoped_or_404(
        visible, request.user, Permission.MERGE_PEOPLE, public_id=request.POST.get("duplicate", "")
    )
    try:
        merge_people(
            survivor=survivor,
            duplicate=duplicate,
            by=request.user,
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The two records are now one."))
    return redirect("people:detail", public_id=survivor.public_id)


def _export_scope(request: HttpRequest) -> tuple[str, QuerySet[Person]]:
    _require(request, Permission.EXPORT_DATA)
    people = queries.search_people(
        request.user, request.GET.get("q", ""), perm=Permission.EXPORT_DATA
    )
    ward_code = request.GET.get("ward", "")
    if ward_code:
        people = people.filter(ward__code=ward_code, ward__system=System.CURRENT)
    audit.record_view(
        by=request.user,
        action="people.exported",
        subject=request.user,  # type: ignore[arg-type]  # logged in: a User
        format=request.path.rsplit(".", 1)[-1],
        ward=ward_code,
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"swabline-people-{ward_code or 'all'}-{stamp}", people


@login_required
def people_export_xlsx(request: HttpRequest) -> HttpResponse:
    name, people = _export_scope(request)
    response = HttpResponse(
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    exports.export_people_xlsx(people, response)
    return response


@login_required
def people_export_csv(request: HttpRequest) -> HttpResponse:
    name, people = _export_scope(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    exports.export_people_csv(people, response)
    return response


@login_required
def sticker_sheets(request: HttpRequest) -> HttpResponse:
    """A4 sheets of QR stickers for a ward's list, for people without phones."""
    _require(request, Permission.EXPORT_DATA)
    ward = get_scoped_or_404(
        Place.objects.filter(system=System.CURRENT, level=Level.WARD),
        request.user,
        Permission.EXPORT_DATA,
        code=request.GET.get("ward", ""),
    )
    people = queries.search_people(
        request.user, request.GET.get("q", ""), perm=Permission.EXPORT_DATA
    ).filter(ward=ward)
    if request.GET.get("no_phone"):
        people = people.filter(phone="")
    # ~5 ms a sticker (segno's mask choice): 1,000 keeps one request near 5 s.
    people = people.order_by("household_key", "-is_household_head", "name_folded")[:1000]
    audit.record(by=request.user, action="people.stickers_printed", subject=ward, count=len(people))
    pdf = documents.sticker_sheet_pdf(list(people), title=ward.name)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="swabline-stickers-{ward.code}.pdf"'
    return response
