"""Writing a run's outcome with set-based statements, in an order the triggers accept."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from swabline.audit.models import AuditEvent
from swabline.sampling import bulk
from swabline.sampling.enums import Fate, TubeStatus
from swabline.sampling.models import Sample, StationEvent, Tube, TubeLabel
from swabline.sampling.sync.state import Audit, NewSample, State, TubeState


class Writing(State):
    def write(self) -> None:
        """The run's outcome, in an order the triggers accept: tubes are opened
        before samples go in, and closed or cancelled after."""
        self._insert_tubes()
        if self.used_labels:
            TubeLabel.objects.filter(code__in=self.used_labels, used_at__isnull=True).update(
                used_at=self.now
            )
        if self.removed_ids:
            Sample.objects.filter(id__in=self.removed_ids, active=True).update(
                active=False, removed_at=self.now
            )
        # Small writes (a lone scan) go in one round trip; COPY cannot be pipelined.
        small = max(len(self.new_samples), len(self.records), len(self.audits)) < bulk.COPY_FROM
        with bulk.pipeline() if small else nullcontext():
            bulk.insert(Sample, SAMPLE_FIELDS, [self._sample_row(s) for s in self.new_samples])
            changed = [tube_changes(t) for t in self.tubes.values() if t.changed]
            bulk.update(Tube, TUBE_CHANGES, changed)
            bulk.insert(StationEvent, EVENT_FIELDS, self.records)
            bulk.insert(AuditEvent, AUDIT_FIELDS, [self._audit_row(a) for a in self.audits])
        if self.resolved:
            StationEvent.objects.filter(
                client_event_id__in=self.resolved,
                site_id=self.site.pk,
                fate=Fate.CONFLICT,
                resolved_at__isnull=True,
            ).update(resolved_at=self.now, resolved_by=self.by)

    def _insert_tubes(self) -> None:
        new = {t.code: t for t in self.tubes.values() if t.new}
        if not new:
            return
        province = self.site.province_code
        rows = [
            (t.code, t.campaign_id, t.site_id, province, t.kind, TubeStatus.OPEN, t.pool_limit,
             0, False, self.by.pk, self.now, t.client_opened_at, None, "")
            for t in new.values()
        ]  # fmt: skip
        bulk.insert(Tube, TUBE_FIELDS, rows)
        where, params = bulk.any_of("code", new, "text")
        for pk, code in bulk.select(f"SELECT id, code FROM sampling_tube WHERE {where}", params):  # noqa: S608 (values are parameters)
            new[code].id = pk

    def _sample_row(self, s: NewSample) -> tuple[Any, ...]:
        return (
            s.tube.pk, s.person_id, self.campaign_id, self.site.province_code, s.position,
            s.kind, s.removed_at is None, s.removed_at, s.event.at, self.user_id, self.now,
            s.event.id,
        )  # fmt: skip

    def _audit_row(self, a: Audit) -> tuple[Any, ...]:
        return (
            self.now, self.by.pk, getattr(self.by, "username", "") or "", a.action,
            Tube._meta.label_lower, str(a.tube.pk), self.site.province_code,
            {"tube": a.tube.code, **a.data},
        )  # fmt: skip


TUBE_FIELDS = (
    "code", "campaign", "site", "province_code", "kind", "status", "pool_limit",
    "member_count", "is_recall", "opened_by", "opened_at", "client_opened_at", "closed_at",
    "voided_reason",
)  # fmt: skip
TUBE_CHANGES = ("status", "member_count", "closed_at", "voided_reason", "is_recall")
SAMPLE_FIELDS = (
    "tube", "person", "campaign", "province_code", "position", "kind", "active",
    "removed_at", "collected_at", "collected_by", "received_at", "client_event_id",
)  # fmt: skip
EVENT_FIELDS = (
    "client_event_id", "device_id", "user", "site", "province_code", "type", "tube_code",
    "person", "payload", "client_at", "received_at", "fate", "reason", "resolved_at",
    "resolved_by",
)  # fmt: skip
AUDIT_FIELDS = (
    "at", "actor_id", "actor_label", "action", "subject_type", "subject_id", "province_code",
    "data",
)  # fmt: skip


def tube_changes(t: TubeState) -> tuple[Any, ...]:
    return (t.pk, t.status, t.count, t.closed_at, t.voided_reason, t.is_recall)
