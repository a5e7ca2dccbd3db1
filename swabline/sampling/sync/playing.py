"""Playing a run: each event in the station's order, in memory, with its fate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from swabline.campaigns.enums import CampaignStatus, TestType
from swabline.sampling import hooks, scans
from swabline.sampling.codes import is_valid_damm, looks_generated
from swabline.sampling.enums import (
    ALLOWED_TRANSITIONS,
    EventType,
    Fate,
    SampleKind,
    TubeKind,
    TubeStatus,
)
from swabline.sampling.messages import Reason
from swabline.sampling.sync.events import (
    CLOSED_TO_CAPTURE,
    SAMPLE_KINDS,
    TRANSIENT,
    TUBE_EVENTS,
    TUBE_KINDS,
    EventIn,
    EventResult,
    applied,
    brief,
    conflict,
    outcome,
    payload_extras,
    plain,
)
from swabline.sampling.sync.state import Audit, Member, NewSample, State, TubeState, Where


def recall_listed(person: scans.PersonRow, kind: str, campaign_id: int) -> bool:
    """Whether `person` is on this campaign's recall (or recollection) list, as the
    results app answers through `sampling.hooks`."""
    if kind == SampleKind.RECALL:
        return hooks.recall_pending(person.id, campaign_id)
    if kind == SampleKind.RECOLLECT:
        return hooks.recollect_pending(person.id, campaign_id)
    return False


class Playing(State):
    def play(self) -> list[EventResult]:
        """Each event's result, in the order of `self.events`."""
        handlers: dict[str, Callable[[EventIn], EventResult]] = {
            EventType.OPEN_TUBE: self._open,
            EventType.ADD_PERSON: self._add,
            EventType.REMOVE_LAST: self._remove_last,
            EventType.CLOSE_TUBE: self._close,
            EventType.VOID_TUBE: self._void,
        }
        played: list[EventResult] = []
        for event in self.events:
            first = self.results.get(event.id)
            if first is not None:  # the same id twice in one batch
                result = self._replay_of(event, first.fate, first.reason, dict(first.params))
                result.person_id = first.person_id
            elif event.id in self.seen:
                result = self._replay(event)
            else:
                result = self._check(event) or handlers[event.type](event)
                self._settled(event, result)
            self._describe_tube(event, result)
            played.append(result)
        self._describe_people(played)
        self.records = [self._record(e, self.results[e.id]) for e in self.to_record]
        return played

    def _settled(self, event: EventIn, result: EventResult) -> None:
        self.results[event.id] = result
        if result.reason not in TRANSIENT:
            self.to_record.append(event)
        if event.resolves and result.fate == Fate.APPLIED:
            self.resolved.append(event.resolves)

    def _describe_tube(self, event: EventIn, result: EventResult) -> None:
        tube = self.tubes.get(event.tube)
        if result.tube is None and tube is not None and tube.site_id == self.site_id:
            result.tube = tube.brief()

    def _describe_people(self, results: list[EventResult]) -> None:
        self._add_person_info(r.person_id for r in results if r.person_id)
        for result in results:
            if result.person_id is not None and result.person is None:
                person = self.person_info[result.person_id]
                result.person = brief(person)
                result.params.setdefault("person", result.person.display)
                result.params.setdefault("birth_year", person.birth_year)

    def _check(self, event: EventIn) -> EventResult | None:
        """What no event may do: come from a wrong clock, miss its tube, or capture
        in a closed campaign."""
        if event.at > self.latest_at or event.at < self.earliest_at:
            local = timezone.localtime(event.at)
            return conflict(event, Reason.CLOCK, at=f"{local:%d/%m/%Y %H:%M}")
        if not event.tube:
            return conflict(event, Reason.INVALID, field="tube")
        if event.type in CLOSED_TO_CAPTURE and self.campaign.status == CampaignStatus.CLOSED:
            return conflict(event, Reason.CAMPAIGN_CLOSED)
        if event.type in TUBE_EVENTS:
            tube = self.tubes.get(event.tube)
            if tube is None:
                return conflict(event, Reason.TUBE_UNKNOWN, tube=event.tube)
            if tube.site_id != self.site_id:
                site = self.site_names.get(tube.site_id, "")
                return conflict(event, Reason.OTHER_SITE, tube=tube.code, site=site)
        return None

    def _open(self, event: EventIn) -> EventResult:
        code = event.tube
        existing = self.tubes.get(code)
        if existing is not None:
            site = self.site_names.get(existing.site_id, "")
            return conflict(event, Reason.LABEL_USED, tube=code, site=site)
        kind = event.kind or TubeKind.POOL
        if kind not in TUBE_KINDS:
            return conflict(event, Reason.INVALID, field="kind")
        if kind == TubeKind.POOL and self.campaign.test_type != TestType.RT_PCR_POOLED:
            return conflict(event, Reason.POOL_NOT_ALLOWED)
        refused, notice = self._label_verdict(code)
        if refused:
            return conflict(event, refused, tube=code)
        limit = 1 if kind == TubeKind.INDIVIDUAL else self.campaign.pool_size_limit
        tube = TubeState(
            code, self.site.pk, self.campaign.pk, kind, TubeStatus.OPEN, limit, False, [],
            new=True, client_opened_at=event.at,
        )  # fmt: skip
        self.tubes[code] = tube
        if code in self.labels:
            self.used_labels.append(code)
        self.audits.append(Audit(tube, "tube.opened", {"kind": kind, "event": str(event.id)}))
        return applied(event, notice, tube=code, limit=limit)

    def _label_verdict(self, code: str) -> tuple[str, str]:
        """(refusal reason, notice) for opening a tube with this label."""
        label = self.labels.get(code)
        if label is not None:
            if label["campaign_id"] != self.campaign.pk:
                return Reason.LABEL_OTHER_CAMPAIGN, ""
            if label["used_at"] is not None:
                return Reason.LABEL_USED, ""
            if label["site_id"] not in (None, self.site.pk):
                return "", Reason.LABEL_OTHER_SITE
            return "", ""
        if self.settings is not None and self.settings.accepts_supplier_code(code):
            return "", ""
        if looks_generated(code) and not is_valid_damm(code):
            return Reason.LABEL_CHECK, ""
        return Reason.LABEL_UNKNOWN, ""

    def _add(self, event: EventIn) -> EventResult:
        tube = self.tubes[event.tube]
        found = self.people.get(event.id)
        if found is None:
            return conflict(event, Reason.INVALID, field="scan")
        if isinstance(found, scans.ScanError):
            return conflict(event, found.reason, detail=found.detail)
        person = found
        if tube.status != TubeStatus.OPEN:
            return conflict(event, Reason.TUBE_CLOSED, person, tube=tube.code, status=tube.status)
        here = next((m for m in tube.members if m.person_id == person.id), None)
        if here is not None:
            return outcome(
                event, Fate.DUPLICATE, Reason.ALREADY_IN_TUBE, person, position=here.position
            )
        if tube.count >= tube.pool_limit:
            return conflict(event, Reason.TUBE_FULL, person, tube=tube.code, limit=tube.pool_limit)
        kind = event.kind or SampleKind.NORMAL
        if kind not in SAMPLE_KINDS:
            return conflict(event, Reason.INVALID, person, field="kind")
        listed = kind != SampleKind.NORMAL and recall_listed(person, kind, self.campaign_id)
        if kind != SampleKind.NORMAL and not (event.override or listed):
            return conflict(event, Reason.NEEDS_OVERRIDE, person)
        if kind == SampleKind.RECALL and tube.kind != TubeKind.INDIVIDUAL:
            return conflict(event, Reason.RECALL_NEEDS_INDIVIDUAL, person)
        notice, other = "", self.active.get(person.id) if kind == SampleKind.NORMAL else None
        if other is not None and recall_listed(person, SampleKind.RECALL, self.campaign_id):
            # Their pool was positive: scanned anywhere, they get an individual
            # recall sample, never a second place in a pool.
            if tube.kind != TubeKind.INDIVIDUAL:
                return conflict(event, Reason.RECALL_LISTED, person)
            return self._admit(event, tube, person, SampleKind.RECALL, Reason.RECALL_SAMPLE, None)
        if other is not None and recall_listed(person, SampleKind.RECOLLECT, self.campaign_id):
            return self._admit(
                event, tube, person, SampleKind.RECOLLECT, Reason.RECOLLECT_SAMPLE, None
            )
        if other is not None:
            params = {"other_tube": other.tube_code, "other_site": self.site_names[other.site_id]}
            if not event.override:
                return conflict(event, Reason.ALREADY_SAMPLED, person, **params)
            # Sampled twice on purpose: both swabs are real, so both samples stay;
            # the second one is a recollection, which the unique rule exempts.
            notice, kind = Reason.OVERRIDE, SampleKind.RECOLLECT
            self.audits.append(
                Audit(tube, "sample.override", {"person": person.public_id, **params})
            )
        return self._admit(event, tube, person, kind, notice, other)

    def _admit(
        self,
        event: EventIn,
        tube: TubeState,
        person: scans.PersonRow,
        kind: str,
        notice: str,
        other: Where | None,
    ) -> EventResult:
        position = tube.count + 1
        new = NewSample(tube, person.id, position, kind, event)
        member = Member(person.id, position, kind, new=new)
        tube.members.append(member)
        tube.count += 1
        tube.changed = True
        tube.is_recall = tube.is_recall or kind == SampleKind.RECALL
        self.new_samples.append(new)
        if kind == SampleKind.NORMAL:
            self.active[person.id] = Where(tube.code, tube.site_id, member)
        params: dict[str, Any] = {"count": position, "limit": tube.pool_limit}
        if other is not None:
            params.update(other_tube=other.tube_code, other_site=self.site_names[other.site_id])
        if position == tube.pool_limit:
            self._set_status(tube, TubeStatus.CLOSED, auto=True, event=str(event.id))
            notice = notice or Reason.TUBE_FULL_CLOSED
        return applied(event, notice, person, **params)

    def _remove_last(self, event: EventIn) -> EventResult:
        tube = self.tubes[event.tube]
        expected = self.people.get(event.id)
        if isinstance(expected, scans.ScanError):
            return conflict(event, expected.reason, detail=expected.detail)
        if tube.status != TubeStatus.OPEN:
            return conflict(event, Reason.TUBE_CLOSED, expected, tube=tube.code, status=tube.status)
        if expected is not None and all(m.person_id != expected.id for m in tube.members):
            return outcome(event, Fate.DUPLICATE, Reason.NOT_IN_TUBE, expected, tube=tube.code)
        if not tube.members:
            return conflict(event, Reason.TUBE_EMPTY, tube=tube.code)
        last = tube.members[-1]
        if expected is not None and last.person_id != expected.id:
            return conflict(event, Reason.NOT_LAST, expected, tube=tube.code)
        self._drop(tube, last)
        self.audits.append(
            Audit(tube, "sample.removed", {"position": last.position, "event": str(event.id)})
        )
        result = applied(event, "", tube=tube.code, count=tube.count, limit=tube.pool_limit)
        result.person_id = last.person_id
        return result

    def _close(self, event: EventIn) -> EventResult:
        tube = self.tubes[event.tube]
        if tube.status == TubeStatus.CLOSED:
            return outcome(event, Fate.DUPLICATE, Reason.ALREADY_CLOSED, tube=tube.code)
        if tube.status != TubeStatus.OPEN:
            return conflict(event, Reason.TUBE_CLOSED, tube=tube.code, status=tube.status)
        if not tube.count:
            return conflict(event, Reason.TUBE_EMPTY, tube=tube.code)
        self._set_status(tube, TubeStatus.CLOSED, auto=False, event=str(event.id))
        return applied(event, "", tube=tube.code, count=tube.count)

    def _void(self, event: EventIn) -> EventResult:
        tube = self.tubes[event.tube]
        if tube.status == TubeStatus.VOID:
            return outcome(event, Fate.DUPLICATE, Reason.ALREADY_VOID, tube=tube.code)
        if tube.status != TubeStatus.OPEN:
            return conflict(event, Reason.TUBE_CLOSED, tube=tube.code, status=tube.status)
        removed = len(tube.members)
        for member in list(tube.members):
            self._drop(tube, member)
        tube.voided_reason = event.reason[:200]
        self._set_status(
            tube, TubeStatus.VOID, reason=tube.voided_reason, removed=removed, event=str(event.id)
        )
        return applied(event, "", tube=tube.code, removed=removed)

    def _drop(self, tube: TubeState, member: Member) -> None:
        tube.members.remove(member)
        tube.count -= 1
        tube.changed = True
        if member.new is not None:
            member.new.removed_at = self.now
        elif member.sample_id is not None:
            self.removed_ids.append(member.sample_id)
        where = self.active.get(member.person_id)
        if where is not None and where.member is member:
            del self.active[member.person_id]

    def _set_status(self, tube: TubeState, to: str, **data: Any) -> None:
        if to not in ALLOWED_TRANSITIONS[tube.status]:
            raise AssertionError(f"sync played a forbidden transition {tube.status}→{to}")
        self.audits.append(Audit(tube, f"tube.{to}", {"from": tube.status, "to": to, **data}))
        tube.status = to
        tube.changed = True
        if to == TubeStatus.CLOSED:
            tube.closed_at = self.now

    def _replay(self, event: EventIn) -> EventResult:
        row = self.seen[event.id]
        params = dict(row["payload"].get("params", {}))
        result = self._replay_of(event, row["fate"], row["reason"], params)
        result.person_id = row["person_id"]
        return result

    def _replay_of(
        self, event: EventIn, fate: str, reason: str, params: dict[str, Any]
    ) -> EventResult:
        return EventResult(
            event.id, event.type, Fate.DUPLICATE, Reason.REPLAYED, params,
            first_fate=fate, first_reason=reason,
        )  # fmt: skip

    def _record(self, event: EventIn, result: EventResult) -> tuple[Any, ...]:
        """The event log row (see EVENT_FIELDS): what was asked, without the scanned
        text, and the fate."""
        payload = {
            "params": plain(result.params),
            **payload_extras(event, self.scan_kinds.get(event.id)),
        }
        return (
            event.id, self.device_id, self.user_id, self.site_id, self.site.province_code,
            event.type, event.tube, result.person_id, payload, event.at, self.now,
            result.fate, result.reason, None, None,
        )  # fmt: skip
