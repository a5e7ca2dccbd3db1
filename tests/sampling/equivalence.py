"""What the sync's one-call paths are compared on with the engine: every row the
capture writes, and every answer (tests/sampling/test_quick.py, test_batch.py)."""

from __future__ import annotations

from typing import Any

from swabline.audit.models import AuditEvent
from swabline.dashboard.models import HourCount, SiteCount
from swabline.sampling.models import DeviceSync, Sample, StationEvent, Tube, TubeLabel

SERVER_TIMES = (
    "received_at",
    "opened_at",
    "closed_at",
    "removed_at",
    "at",
    "last_sync_at",
    "used_at",
)


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row the capture writes, tubes by code, without server clock times (only
    whether they are set) and without the ids a rollback does not give back."""
    codes = dict(Tube.objects.values_list("id", "code"))

    def rows(queryset: Any, *fields: str, tube: str = "") -> list[tuple[Any, ...]]:
        names = [f for f in fields if f not in SERVER_TIMES]
        timed = [f for f in fields if f in SERVER_TIMES]
        out = []
        for r in queryset.values(*fields):
            if tube:
                r[tube] = codes.get(int(r[tube]), r[tube])
            out.append((*(r[n] for n in names), *(r[t] is not None for t in timed)))
        return sorted(out, key=repr)

    return {
        "samples": rows(
            Sample.objects.all(), "tube_id", "person_id", "campaign_id", "province_code",
            "position", "kind", "active", "removed_at", "collected_at", "collected_by_id",
            "client_event_id", "received_at", tube="tube_id",
        ),
        "tubes": rows(
            Tube.objects.all(), "code", "campaign_id", "site_id", "province_code", "kind",
            "status", "pool_limit", "member_count", "is_recall", "opened_by_id",
            "client_opened_at", "voided_reason", "names_missing_since", "opened_at",
            "closed_at",
        ),
        "events": rows(
            StationEvent.objects.all(), "client_event_id", "device_id", "user_id", "site_id",
            "province_code", "type", "tube_code", "person_id", "payload", "client_at", "fate",
            "reason", "resolved_at", "resolved_by_id", "received_at",
        ),
        "audits": rows(
            AuditEvent.objects.exclude(action__startswith="assignment."), "actor_id",
            "actor_label", "action", "subject_type", "subject_id", "province_code", "data", "at",
            tube="subject_id",
        ),
        "labels": rows(TubeLabel.objects.all(), "code", "used_at"),
        "devices": rows(
            DeviceSync.objects.all(), "device_id", "user_id", "site_id", "pending_conflicts",
            "last_sync_at",
        ),
        "site_counts": rows(
            SiteCount.objects.exclude(n=0), "province_code", "campaign_id", "site_id", "metric",
            "n",
        ),
        "hour_counts": rows(
            HourCount.objects.exclude(n=0), "province_code", "campaign_id", "site_id", "metric",
            "hour", "n",
        ),
    }  # fmt: skip


def answer(result: Any) -> tuple[Any, ...]:
    return (
        result.id, result.type, result.fate, result.reason, result.params, result.person,
        result.tube, result.first_fate, result.first_reason, result.person_id, result.message,
    )  # fmt: skip
