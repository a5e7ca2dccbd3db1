from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission, scoped
from swabline.core.text import fold
from swabline.places.enums import Level, System
from swabline.places.models import Place


@login_required
def place_list(request: HttpRequest) -> HttpResponse:
    """Wards in the user's area, searchable without diacritics."""
    if not has_permission(request.user, Permission.VIEW_PLACES):
        raise PermissionDenied
    query = request.GET.get("q", "")
    places = scoped(
        Place.objects.filter(system=System.CURRENT, level=Level.WARD).select_related("parent"),
        request.user,
        Permission.VIEW_PLACES,
        place_path="path",
    )
    if fold(query):
        places = places.filter(name_folded__contains=fold(query))
    page = Paginator(places.order_by("name_folded", "code"), 50).get_page(request.GET.get("page"))
    return render(request, "places/list.html", {"page": page, "query": query})


@login_required
def place_detail(request: HttpRequest, code: str) -> HttpResponse:
    if not has_permission(request.user, Permission.VIEW_PLACES):
        raise PermissionDenied
    place = get_scoped_or_404(
        Place.objects.select_related("parent").filter(system=System.CURRENT),
        request.user,
        Permission.VIEW_PLACES,
        code=code,
        level__in=[Level.WARD, Level.PROVINCE],
    )
    children = place.children.order_by("name_folded")[:500]
    can_export = has_permission(request.user, Permission.EXPORT_DATA, place)
    return render(
        request,
        "places/detail.html",
        {"place": place, "children": children, "can_export": can_export},
    )
