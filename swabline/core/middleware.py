from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

request_log = logging.getLogger("swabline.request")


class ContentSecurityPolicyMiddleware:
    """A strict CSP on every response: no inline script or style anywhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CSP_POLICY)
        response.headers.setdefault("Permissions-Policy", "geolocation=(), microphone=()")
        return response


class RequestLogMiddleware:
    """Logs method, path template, status and time; never query strings or bodies."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unresolved"
        request_log.info(
            "request",
            extra={
                "method": request.method,
                "path": route,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "user_id": getattr(request.user, "pk", None) if hasattr(request, "user") else None,
            },
        )
        return response


# NUL, and UTF-16 surrogates that pair with nothing: PostgreSQL cannot store either.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The same as JSON escapes; a body without one cannot decode to either.
_ESCAPED = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _has_unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_UNSTORABLE.search(value))
    if isinstance(value, dict):
        return any(_has_unstorable(k) or _has_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable(v) for v in value)
    return False


class UnstorableTextMiddleware:
    """Refuses, with a translated 400, a request whose query string, form or JSON body
    holds text no database column can take (a NUL character, a lone surrogate), which
    would otherwise reach a query and fail there as a server error. Django's form
    fields refuse NUL too; this covers the API and the query strings views read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._unstorable(request):
            message = _("The request holds characters that cannot be stored.")
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return render(request, "400.html", {"message": message}, status=400)
        return self.get_response(request)

    @staticmethod
    def _unstorable(request: HttpRequest) -> bool:
        if any(_has_unstorable(k) or _has_unstorable(request.GET.getlist(k)) for k in request.GET):
            return True
        content_type = request.content_type or ""
        if request.method == "GET":
            return False
        if content_type == "multipart/form-data":
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit is not None and int(request.META.get("CONTENT_LENGTH") or 0) > limit:
                return False  # a file upload: streamed to disk; its form checks its fields
            # Read the raw body first so a view that wants it can still have it after the
            # form was parsed (parsing a multipart stream otherwise consumes it).
            request.body  # noqa: B018
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return any(_has_unstorable(k) or _has_unstorable(request.POST.getlist(k))
                       for k in request.POST)  # fmt: skip
        body = request.body
        if b"\0" in body:
            return True
        if not _ESCAPED.search(body):
            return False
        try:
            return _has_unstorable(json.loads(body))
        except ValueError:
            return False  # not JSON: the view answers that
