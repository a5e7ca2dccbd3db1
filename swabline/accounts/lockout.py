"""What a locked-out login gets (django-axes calls `lockout_response`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext

STATUS = 429


def cooloff_minutes() -> int:
    return max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))


def lockout_response(request: HttpRequest, response: Any, credentials: Any = None) -> HttpResponse:
    """The API gets JSON, pages get the translated lock-out page; both 429 with
    Retry-After. Nothing names the account or the address."""
    minutes = cooloff_minutes()
    if request.path.startswith("/api/"):
        answer: HttpResponse = JsonResponse({"detail": locked_message(minutes)}, status=STATUS)
    else:
        answer = render(
            request,
            "registration/locked_out.html",
            {"message": locked_message(minutes)},
            status=STATUS,
        )
    answer["Retry-After"] = str(minutes * 60)
    return answer


def locked_message(minutes: int) -> str:
    return ngettext(
        "Too many wrong passwords for this account from this device. "
        "Try again in %(minutes)d minute, or ask an administrator.",
        "Too many wrong passwords for this account from this device. "
        "Try again in %(minutes)d minutes, or ask an administrator.",
        minutes,
    ) % {"minutes": minutes}
