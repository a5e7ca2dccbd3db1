from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from swabline.accounts.permissions import grants, permissions_of
from swabline.core.capabilities import CAPABILITIES

log = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Shows each user what their roles let them do, and where."""
    held = permissions_of(request.user)
    return render(
        request,
        "core/home.html",
        {
            "capabilities": [c for c in CAPABILITIES if c.permission in held],
            "assignments": request.user.assignments.select_related(  # type: ignore[union-attr]
                "place", "site", "lab"
            ),
            "has_grants": bool(grants(request.user)),
        },
    )


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and monitoring."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        log.exception("health check failed")
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": connection.vendor})
