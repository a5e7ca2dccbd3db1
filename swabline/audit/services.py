"""Writing audit events. Called inside the caller's transaction, so a failed
audit write fails the action it records."""

from __future__ import annotations

from typing import Any

from django.db import models

from swabline.audit.models import AuditEvent


def record(
    *,
    by: Any | None,
    action: str,
    subject: models.Model,
    province_code: str = "",
    **data: Any,
) -> AuditEvent:
    """Append one audit event about `subject` done by user `by` (None: the system)."""
    return AuditEvent.objects.create(
        actor_id=getattr(by, "pk", None),
        actor_label=getattr(by, "username", "") or "",
        action=action,
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        province_code=province_code,
        data=data,
    )
