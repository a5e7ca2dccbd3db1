from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission, scoped
from swabline.labs.models import Lab


@login_required
def lab_list(request: HttpRequest) -> HttpResponse:
    if not has_permission(request.user, Permission.RECEIVE_TUBES):
        raise PermissionDenied
    labs = scoped(
        Lab.objects.select_related("place"),
        request.user,
        Permission.RECEIVE_TUBES,
        place_path="place__path",
        lab="id",
    )
    return render(request, "labs/list.html", {"labs": labs})


@login_required
def lab_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    if not has_permission(request.user, Permission.RECEIVE_TUBES):
        raise PermissionDenied
    lab = get_scoped_or_404(
        Lab.objects.select_related("place"),
        request.user,
        Permission.RECEIVE_TUBES,
        public_id=public_id,
    )
    return render(request, "labs/detail.html", {"lab": lab})
