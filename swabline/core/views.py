from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
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


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 400 for a request it will not read. A body or form over the limits
    (DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FIELDS/FILES) is 413 and says
    so, translated; the API answers JSON like its other errors."""
    too_big = isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent)
    status = 413 if too_big else 400
    if too_big:
        message = _("The request is too large. Send less at a time.")
    else:
        message = _("The request could not be read.")
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return render(request, "400.html", {"message": message}, status=status)
