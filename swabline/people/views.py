from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission
from swabline.people import queries


@login_required
def person_list(request: HttpRequest) -> HttpResponse:
    if not has_permission(request.user, Permission.VIEW_PEOPLE):
        raise PermissionDenied
    query = request.GET.get("q", "")
    people = queries.search_people(request.user, query)
    page = Paginator(people, 50).get_page(request.GET.get("page"))
    return render(request, "people/list.html", {"page": page, "query": query})


@login_required
def person_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    if not has_permission(request.user, Permission.VIEW_PEOPLE):
        raise PermissionDenied
    person = get_scoped_or_404(
        queries.visible_people(request.user),
        request.user,
        Permission.VIEW_PEOPLE,
        public_id=public_id,
    )
    return render(request, "people/detail.html", {"person": person})
