"""Bearer-token authentication for the JSON API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from swabline.accounts.models import ApiToken, hash_token

# Writing last_used_at on every call would turn each read into a write; once a
# minute is enough to show a device is alive.
_TOUCH_EVERY = timedelta(minutes=1)


def user_for_token(raw: str) -> Any | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if token is None or token.expires_at <= now or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    # The token travels with the user so that DELETE /auth/token can revoke it.
    token.user.api_token = token  # type: ignore[attr-defined]
    return token.user


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user
