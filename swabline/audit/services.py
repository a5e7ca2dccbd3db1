"""Writing audit events. Called inside the caller's transaction, so a failed
audit write fails the action it records.

Views that only *show* personal data (a person's record, a list of results, a
certificate downloaded by staff) write their event before anything is rendered:
when the event cannot be written, `AuditFailed` is raised, the middleware answers
503 with a translated page, and nothing is shown (`middleware.AuditFailureMiddleware`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, connection, models, transaction

from swabline.audit.models import AuditEvent


class AuditFailed(DatabaseError):
    """The audit trail refused an event: the action it records must not happen."""


def _event(
    by: Any | None, action: str, subject: models.Model, province_code: str, data: dict[str, Any]
) -> AuditEvent:
    return AuditEvent(
        actor_id=getattr(by, "pk", None),
        actor_label=getattr(by, "username", "") or "",
        action=action,
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        province_code=province_code,
        data=data,
    )


def record(
    *,
    by: Any | None,
    action: str,
    subject: models.Model,
    province_code: str = "",
    **data: Any,
) -> AuditEvent:
    """Append one audit event about `subject` done by user `by` (None: the system).

    Raises `AuditFailed` (a `DatabaseError`) when the database refuses it; inside a
    transaction that rolls the caller's change back."""
    event = _event(by, action, subject, province_code, data)
    try:
        event.save(force_insert=True)
    except DatabaseError as exc:
        raise AuditFailed(action) from exc
    return event


def record_view(
    *, by: Any, action: str, subject: models.Model, province_code: str = "", **data: Any
) -> AuditEvent:
    """Record that `by` was shown `subject` (nothing changed). Raises `AuditFailed`,
    and the view must then show nothing."""
    [event] = _insert_views(action, [_event(by, action, subject, province_code, data)])
    return event


def record_views(
    *, by: Any, action: str, subjects: Iterable[models.Model], **data: Any
) -> list[AuditEvent]:
    """One event per record shown (a page of a list), in one INSERT; each carries the
    record's own province code. Raises `AuditFailed` like `record_view`."""
    events = [_event(by, action, s, getattr(s, "province_code", "") or "", data) for s in subjects]
    return _insert_views(action, events) if events else []


def _insert_views(action: str, events: list[AuditEvent]) -> list[AuditEvent]:
    try:
        if connection.in_atomic_block:
            # Inside someone's transaction: a savepoint, so a refusal leaves it usable.
            with transaction.atomic():
                return AuditEvent.objects.bulk_create(events)
        return AuditEvent.objects.bulk_create(events)
    except DatabaseError as exc:
        raise AuditFailed(action) from exc
