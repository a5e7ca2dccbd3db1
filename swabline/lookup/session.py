"""Which people this browser has proved it may see, after a successful look-up.

A signed, short-lived cookie (no database write on the hot path) holds the ids of the
people the look-up let in; the look-up page, the one-page slip and the certificate
download read it with `granted`. Only `swabline.lookup` grants.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

COOKIE = "swl_lookup"
SALT = "swabline.lookup.grant"


def _minutes() -> int:
    return int(getattr(settings, "LOOKUP_GRANT_MINUTES", 30))


def grant(response: HttpResponse, person_ids: Iterable[int]) -> None:
    """Let this browser see `person_ids` for LOOKUP_GRANT_MINUTES (replaces any grant)."""
    ids = sorted({int(i) for i in person_ids})
    until = int(time.time()) + _minutes() * 60
    response.set_signed_cookie(
        COOKIE,
        f"{until}:{','.join(map(str, ids))}",
        salt=SALT,
        max_age=_minutes() * 60,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def granted(request: HttpRequest) -> frozenset[int]:
    """The person ids this browser may see now (empty when none or expired)."""
    try:
        value = request.get_signed_cookie(COOKIE, salt=SALT, max_age=_minutes() * 60)
    except (KeyError, signing.BadSignature):
        return frozenset()
    until, _, ids = str(value).partition(":")
    if not until.isdigit() or int(until) < time.time():
        return frozenset()
    return frozenset(int(i) for i in ids.split(",") if i.isdigit())


def forget(response: HttpResponse) -> None:
    response.delete_cookie(COOKIE, samesite="Lax")
