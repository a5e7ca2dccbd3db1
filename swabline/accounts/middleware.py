"""Session rules on top of Django's: an idle timeout, and the second factor."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from swabline.accounts import twofactor

LAST_SEEN_KEY = "swabline_last_seen"


class IdleSessionMiddleware:
    """Ends a session unused for SESSION_IDLE_SECONDS (SESSION_COOKIE_AGE still caps
    its whole life). The time of the last request is written at most once per
    SESSION_IDLE_TOUCH_SECONDS, so most requests write nothing."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if SESSION_KEY in session:
            now = int(time.time())
            last = session.get(LAST_SEEN_KEY)
            if isinstance(last, int) and now - last > settings.SESSION_IDLE_SECONDS:
                logout(request)  # flushes the session; the request goes on anonymous
            elif not isinstance(last, int) or now - last >= settings.SESSION_IDLE_TOUCH_SECONDS:
                session[LAST_SEEN_KEY] = now
        return self.get_response(request)


@receiver(user_logged_in, dispatch_uid="swabline-idle-session-login")
def _stamp_login(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    """A new session starts its idle clock at login (so its first request writes
    nothing)."""
    session = getattr(request, "session", None)
    if session is not None:
        session[LAST_SEEN_KEY] = int(time.time())


@cache
def _open_paths() -> tuple[str, ...]:
    """Paths a half-logged-in user may still open: the second-factor pages, logging
    in and out, the language switch; static files never reach here (WhiteNoise)."""
    names = ("login", "logout", "two_factor_verify", "two_factor_setup", "set_language")
    return (*(reverse(n) for n in names), "/healthz", settings.STATIC_URL)


class TwoFactorMiddleware:
    """A user who needs a second factor and has not passed it this session reaches
    only the enrolment or verification page; to the JSON API the session is anonymous."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if SESSION_KEY in request.session and not request.path.startswith(_open_paths()):
            user = request.user
            if twofactor.requires_two_factor(user) and not twofactor.is_verified(user):
                return self._refuse(request, user)
        return self.get_response(request)

    def _refuse(self, request: HttpRequest, user: object) -> HttpResponse:
        if request.path.startswith("/api/"):
            # The API sees no session user (a bearer token still works): a password
            # alone must not open what the second factor guards.
            request.user = AnonymousUser()
            return self.get_response(request)
        step = "two_factor_verify" if twofactor.has_authenticator(user) else "two_factor_setup"  # type: ignore[arg-type]
        target = reverse(step)
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(target)
