"""Bearer-token authentication for the JSON API.

A station sends one request per scan, so looking the token, its user and the
user's assignments up on every request was most of a scan's cost (two queries,
~2.8 ms of ~7 ms). Each server process keeps what it looked up for
`API_AUTH_CACHE_SECONDS` (default 5 s):

- a token revoked, expired or deleted, a user deactivated, an assignment added or
  removed takes effect at once in the process that made the change (the services
  and the models' signals clear the cache), and within the cache time in every
  other server process;
- a token's expiry is compared with the clock on every request;
- unknown or revoked tokens are never cached, so a new token works at once and
  guessing fills nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from swabline.accounts.enums import ApiScope
from swabline.accounts.models import ApiToken, Assignment, User, hash_token
from swabline.accounts.permissions import Grant, grants

# Writing last_used_at on every call would turn each read into a write; once a
# minute is enough to show a device is alive.
_TOUCH_EVERY = timedelta(minutes=1)
DEFAULT_CACHE_SECONDS = 5.0
_MAX_ENTRIES = 10_000


@dataclass(slots=True)
class _Entry:
    loaded_at: float  # time.monotonic()
    token: ApiToken  # with its user
    grants: list[Grant]


_cache: dict[str, _Entry] = {}


def cache_seconds() -> float:
    return float(getattr(settings, "API_AUTH_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))


def forget_tokens() -> None:
    """Drop every cached token (see the module docstring for when this runs)."""
    _cache.clear()


def user_for_token(raw: str) -> Any | None:
    """The active user holding the unrevoked, unexpired token `raw`, with the token as
    `user.api_token` (so DELETE /auth/token can revoke it) and the user's grants
    loaded; None otherwise. Each call gets its own copy of the user."""
    key = hash_token(raw)
    entry = _cache.get(key)
    if entry is None or time.monotonic() - entry.loaded_at >= cache_seconds():
        entry = _load(key)
        if entry is None:
            _cache.pop(key, None)
            return None
    token = entry.token
    now = timezone.now()
    if token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    user = _own_copy(token.user)
    user.api_token = token  # type: ignore[attr-defined]
    user._swabline_grants = entry.grants  # type: ignore[attr-defined]
    return user


def _own_copy(user: User) -> User:
    """A shallow copy of `user` for one request (copy.copy goes through pickling's
    protocol: ~7x slower). Its relations are loaded again if asked for."""
    clone = User.__new__(User)
    clone.__dict__.update(user.__dict__)
    state = ModelState()
    state.db, state.adding = user._state.db, False
    clone._state = state
    return clone


def _load(key: str) -> _Entry | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=key, revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    entry = _Entry(time.monotonic(), token, grants(token.user))
    if len(_cache) >= _MAX_ENTRIES:
        _cache.clear()
    _cache[key] = entry
    return entry


def forget_token(key_hash: str) -> None:
    """Drop one token now and again when the current transaction commits (so a
    request in between cannot cache the row as it was before the commit)."""
    _cache.pop(key_hash, None)
    transaction.on_commit(lambda: _cache.pop(key_hash, None))


def _forget_all(**kwargs: Any) -> None:
    forget_tokens()
    transaction.on_commit(forget_tokens)


for _model in (ApiToken, Assignment, User):
    post_save.connect(_forget_all, sender=_model, dispatch_uid=f"auth-cache-save-{_model}")
    post_delete.connect(_forget_all, sender=_model, dispatch_uid=f"auth-cache-delete-{_model}")


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ScopeRefused(Exception):
    """A valid token without the scope an operation needs: 403 (swabline/api.py
    renders it, as an OperationOutcome under /fhir)."""


class TokenAuth(HttpBearer):
    """Bearer tokens. `scopes`: the token must carry one of them (none named: any
    valid token, as for /auth/me); a READ_ONLY token may only read unless
    `any_method` (revoking itself). A token that is valid but lacks the scope gets
    403, not 401: it authenticated, it is not allowed here."""

    def __init__(self, *scopes: str, any_method: bool = False) -> None:
        super().__init__()
        self.scopes = frozenset(scopes)
        self.any_method = any_method

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = user_for_token(token)
        if user is None:
            return None
        refusal = self.refusal(user.api_token, request.method or "GET")
        if refusal:
            raise ScopeRefused(refusal)
        request.user = user
        return user

    def refusal(self, token: ApiToken, method: str) -> str:
        """Why `token` may not call this operation with `method` ("" if it may)."""
        held = set(token.scopes)
        if self.scopes and not self.scopes & held:
            return _("This token's scopes do not allow this operation.")
        if ApiScope.READ_ONLY in held and not self.any_method and method not in _SAFE_METHODS:
            return _("This token may only read.")
        return ""
