"""Writes about users: tokens and assignments. One transaction each, audited."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from swabline.accounts.auth import forget_token
from swabline.accounts.enums import ApiScope, Role, ScopeKind
from swabline.accounts.models import ApiToken, Assignment, User, hash_token
from swabline.accounts.roles import ROLE_API_SCOPES, ROLE_SCOPES
from swabline.audit import services as audit
from swabline.campaigns.models import Site
from swabline.labs.models import Lab
from swabline.places.models import Place

TOKEN_PREFIX = "swl_"  # noqa: S105 -- a label, not a secret


class AssignmentError(ValueError):
    pass


class ScopeError(ValueError):
    """A token was asked for a scope its user's roles do not give."""

    def __init__(self, scopes: list[str]) -> None:
        super().__init__(", ".join(scopes))
        self.scopes = scopes


def allowed_scopes(user: User) -> set[str]:
    """The API scopes `user`'s roles let a token carry (READ_ONLY always)."""
    roles = user.assignments.values_list("role", flat=True)
    allowed: set[str] = {ApiScope.READ_ONLY}
    for role in roles:
        allowed |= ROLE_API_SCOPES.get(role, frozenset())
    return allowed


@transaction.atomic
def issue_token(
    *, user: User, name: str, by: User | None = None, scopes: list[str] | None = None
) -> tuple[ApiToken, str]:
    """Create a bearer token for `user`; return it with the raw key, shown only once.

    `scopes` (ApiScope values) narrow what the token opens; by default it gets every
    scope the user's roles allow except READ_ONLY. Asking for a scope the roles do not
    allow raises ScopeError and creates nothing.
    """
    allowed = allowed_scopes(user)
    if scopes is None:
        chosen = sorted(allowed - {ApiScope.READ_ONLY})
    else:
        unknown = sorted(set(scopes) - allowed)
        if unknown:
            raise ScopeError(unknown)
        chosen = sorted(set(scopes))
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 8],
        key_hash=hash_token(raw),
        expires_at=timezone.now() + timedelta(days=settings.API_TOKEN_TTL_DAYS),
        scopes=chosen,
    )
    audit.record(
        by=by or user, action="token.issued", subject=token, name=token.name, scopes=chosen
    )
    return token, raw


@transaction.atomic
def revoke_token(*, token: ApiToken, by: User) -> bool:
    """Revoke `token`; False if it was already revoked (a retried call changes nothing)."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if changed:
        audit.record(by=by, action="token.revoked", subject=token)
    # Refused from the next request in this process; other processes within
    # API_AUTH_CACHE_SECONDS (see accounts.auth).
    forget_token(token.key_hash)
    return bool(changed)


@transaction.atomic
def assign(
    *,
    user: User,
    role: Role,
    by: User | None,
    place: Place | None = None,
    site: Site | None = None,
    lab: Lab | None = None,
) -> Assignment:
    """Give `user` `role` over one scope. Idempotent: an existing identical assignment is kept."""
    kind = _scope_kind(place=place, site=site, lab=lab)
    if kind not in ROLE_SCOPES[role]:
        raise AssignmentError(f"{role} cannot be assigned with scope {kind}")
    assignment, created = Assignment.objects.get_or_create(
        user=user, role=role, scope_kind=kind, place=place, site=site, lab=lab
    )
    if created:
        audit.record(
            by=by,
            action="assignment.created",
            subject=assignment,
            user_id=user.pk,
            role=str(role),
            scope=kind,
        )
    return assignment


def _scope_kind(*, place: Place | None, site: Site | None, lab: Lab | None) -> ScopeKind:
    given = [x for x in (place, site, lab) if x is not None]
    if len(given) > 1:
        raise AssignmentError("an assignment has one scope")
    if place is not None:
        return ScopeKind.PLACE
    if site is not None:
        return ScopeKind.SITE
    if lab is not None:
        return ScopeKind.LAB
    return ScopeKind.EVERYWHERE
