"""The one place that decides who may do what where.

Every view and API call asks `has_permission(user, perm, obj)` or narrows a
queryset with `scoped(...)`; nothing compares roles directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from django.db import models
from django.http import Http404

from swabline.accounts.enums import Permission, ScopeKind
from swabline.accounts.roles import ROLE_PERMISSIONS
from swabline.core.scope import Scope

M = TypeVar("M", bound=models.Model)


class Scoped(Protocol):
    def scope(self) -> Scope: ...


@dataclass(frozen=True)
class Grant:
    """One assignment, reduced to what scope checks need."""

    role: str
    kind: str
    place_path: str | None
    site_id: int | None
    lab_id: int | None

    def covers(self, scope: Scope) -> bool:
        if self.kind == ScopeKind.EVERYWHERE:
            return True
        if self.kind == ScopeKind.PLACE:
            return self.place_path is not None and scope.place_path.startswith(self.place_path)
        if self.kind == ScopeKind.SITE:
            if scope.site_id is not None:
                return scope.site_id == self.site_id
            # A site's staff see place-level records of the site's own ward.
            return (
                scope.lab_id is None
                and self.place_path is not None
                and scope.place_path.startswith(self.place_path)
            )
        if self.kind == ScopeKind.LAB:
            return scope.lab_id is not None and scope.lab_id == self.lab_id
        return False


def grants(user: Any) -> list[Grant]:
    """The user's assignments, loaded once per user object."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached: list[Grant] | None = getattr(user, "_swabline_grants", None)
    if cached is None:
        cached = [
            Grant(
                role=a.role,
                kind=a.scope_kind,
                place_path=(a.place.path if a.place else (a.site.ward.path if a.site else None)),
                site_id=a.site_id,
                lab_id=a.lab_id,
            )
            for a in user.assignments.select_related("place", "site__ward")
        ]
        user._swabline_grants = cached
    return cached


def grants_for(user: Any, perm: Permission) -> list[Grant]:
    return [g for g in grants(user) if perm in ROLE_PERMISSIONS.get(g.role, frozenset())]


def has_permission(user: Any, perm: Permission, obj: Scoped | None = None) -> bool:
    """May `user` do `perm` anywhere (obj None), or on this object?"""
    held = grants_for(user, perm)
    if obj is None:
        return bool(held)
    scope = obj.scope()
    return any(g.covers(scope) for g in held)


def roles_of(user: Any) -> set[str]:
    return {g.role for g in grants(user)}


def permissions_of(user: Any) -> set[Permission]:
    result: set[Permission] = set()
    for g in grants(user):
        result |= ROLE_PERMISSIONS.get(g.role, frozenset())
    return result


def scope_filter(
    user: Any,
    perm: Permission,
    *,
    place_path: str,
    site: str | None = None,
    lab: str | None = None,
) -> models.Q | None:
    """A Q narrowing a queryset to what `user` may `perm`; None means no limit.

    `place_path` names the field path to a place's `path` (e.g. "ward__path"),
    `site` and `lab` the fields holding the object's site or lab, where it has one.
    A user without the permission gets a Q that matches nothing.
    """
    q = models.Q(pk__in=[])
    for g in grants_for(user, perm):
        if g.kind == ScopeKind.EVERYWHERE:
            return None
        if g.kind == ScopeKind.PLACE and g.place_path:
            q |= models.Q(**{f"{place_path}__startswith": g.place_path})
        elif g.kind == ScopeKind.SITE:
            if site is not None:
                q |= models.Q(**{site: g.site_id})
            elif lab is None and g.place_path:
                q |= models.Q(**{f"{place_path}__startswith": g.place_path})
        elif g.kind == ScopeKind.LAB and lab is not None:
            q |= models.Q(**{lab: g.lab_id})
    return q


def scoped(
    queryset: models.QuerySet[M],
    user: Any,
    perm: Permission,
    *,
    place_path: str,
    site: str | None = None,
    lab: str | None = None,
) -> models.QuerySet[M]:
    """`queryset` narrowed to the objects `user` may `perm`."""
    q = scope_filter(user, perm, place_path=place_path, site=site, lab=lab)
    return queryset if q is None else queryset.filter(q)


def get_scoped_or_404(
    queryset: models.QuerySet[M], user: Any, perm: Permission, **lookup: Any
) -> M:
    """Fetch one object, or raise 404 if it does not exist or the user may not `perm` it.

    Out-of-scope objects look exactly like missing ones, so ids cannot be probed.
    """
    try:
        obj = queryset.get(**lookup)
    except (models.ObjectDoesNotExist, ValueError) as exc:
        raise Http404 from exc
    if not has_permission(user, perm, obj):  # type: ignore[arg-type]
        raise Http404
    return obj


def place_paths(user: Any, perm: Permission) -> Iterable[str]:
    """The place subtrees (paths) where `user` holds `perm` through place or site grants."""
    return [g.place_path for g in grants_for(user, perm) if g.place_path]
