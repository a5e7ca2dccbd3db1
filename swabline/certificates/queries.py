"""Reads: which outcome a browser or a staff member may get a certificate for."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.results.models import Outcome

STAFF_PERMISSIONS = (Permission.VIEW_OUTCOMES, Permission.HELP_CITIZENS)


def outcome_for_certificate(user: Any, granted: Collection[int], outcome_id: int) -> Outcome | None:
    """The outcome, if this browser's look-up granted its person, or `user` may see
    outcomes or help citizens at the person's place; else None (never say which)."""
    outcome = (
        Outcome.objects.select_related(
            "person__ward",
            "campaign",
            "sample__tube__site",
            "result__lab",
            "certificate",
        )
        .filter(pk=outcome_id)
        .first()
    )
    if outcome is None:
        return None
    if outcome.person_id in granted:
        return outcome
    if any(has_permission(user, perm, outcome) for perm in STAFF_PERMISSIONS):
        return outcome
    return None


def newer_result_exists(outcome: Outcome) -> bool:
    return not outcome.current
