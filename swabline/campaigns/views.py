from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission, scoped
from swabline.campaigns.models import Site


@login_required
def site_list(request: HttpRequest) -> HttpResponse:
    if not has_permission(request.user, Permission.VIEW_SITES):
        raise PermissionDenied
    sites = scoped(
        Site.objects.select_related("ward", "campaign"),
        request.user,
        Permission.VIEW_SITES,
        place_path="ward__path",
        site="id",
    ).order_by("campaign__starts_on", "name")
    return render(request, "campaigns/site_list.html", {"sites": sites})


@login_required
def site_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    if not has_permission(request.user, Permission.VIEW_SITES):
        raise PermissionDenied
    site = get_scoped_or_404(
        Site.objects.select_related("ward", "campaign"),
        request.user,
        Permission.VIEW_SITES,
        public_id=public_id,
    )
    staff = site.staff.select_related("user").order_by("user__username")
    return render(request, "campaigns/site_detail.html", {"site": site, "staff": staff})
