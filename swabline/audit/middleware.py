"""Turns a refused audit write into a clear 503: nothing was shown or changed."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from swabline.audit.services import AuditFailed

log = logging.getLogger(__name__)


def not_recorded() -> str:
    return _(
        "This action could not be written to the audit trail, so nothing was shown or "
        "changed. Try again in a moment; if it keeps happening, tell your administrator."
    )


class AuditFailureMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, AuditFailed):
            return None
        # The action name only: never who or what was looked at.
        log.error("audit write refused", extra={"event": str(exception)})
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": not_recorded()}, status=503)
        else:
            response = render(request, "audit/unavailable.html", status=503)
        response["Cache-Control"] = "no-store"
        response["Retry-After"] = "30"
        return response
