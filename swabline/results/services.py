"""Writes of the results app: release, tube rejection and correction.

All three end in the same place: per-person `Outcome` rows appended set-based by
`decide` (a handful of statements whatever the number of tubes), superseding each
person's previous current outcome in the same transaction. The pool logic lives in
one table (`POOL_LOGIC`) and one function (`decide`); see `swabline/results/logic.py`
for the rules and their reasons.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.labs.enums import ResultState, ResultValue
from swabline.labs.models import Lab, TubeResult
from swabline.results import hooks, logic
from swabline.results.enums import ReleaseKind
from swabline.results.models import Release
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube

__all__ = ["amend_result", "record_rejection", "release_results"]


def release_results(
    *,
    by: Any,
    lab: Lab,
    result_ids: Sequence[int],
    client_id: uuid.UUID | None = None,
    note: str = "",
) -> Release:
    """Release the given results of `lab` to people (the second step of two).

    Releases those of `result_ids` that are current, `entered`, of `lab`, on a tube
    that is `resulted`; the others are skipped (already released, discarded, another
    lab's). Side effects, in one transaction: the results become `released`
    (released_by/at, `release`); their tubes move `resulted → released`; one
    `Outcome` per active sample of those tubes (pool logic, `logic.decide`), the
    people's previous current outcomes superseded; one audit event
    `results.released` with counts; `hooks.outcomes_written` (the notifications
    outbox, written in this transaction). `Release.tubes`/`.people` count what it did
    (people = outcome rows written). Retried with the same `client_id`, answers the
    first call's Release and changes nothing. Raises `PermissionDenied` unless `by`
    holds RELEASE_RESULTS on `lab`.
    """
    if not has_permission(by, Permission.RELEASE_RESULTS, lab):
        raise PermissionDenied
    with transaction.atomic():
        existing = _existing(client_id)
        if existing is not None:
            if existing.lab_id != lab.pk:
                raise ValidationError(_("This request id was already used at another lab."))
            return existing
        now = timezone.now()
        release = Release.objects.create(
            lab=lab,
            kind=ReleaseKind.RELEASE,
            released_by=by,
            released_at=now,
            note=note[:500],
            client_id=client_id,
        )
        tubes = logic.mark_released(release, [int(i) for i in result_ids])
        people = logic.decide(release) if tubes else 0
        Release.objects.filter(pk=release.pk).update(tubes=tubes, people=people)
        release.tubes, release.people = tubes, people
        if people:
            hooks.outcomes_written(release)
        audit.record(
            by=by,
            action="results.released",
            subject=release,
            province_code=lab.province_code,
            lab=lab.code,
            tubes=tubes,
            people=people,
            requested=len(result_ids),
        )
    return release


def record_rejection(*, by: Any, tubes: Sequence[Tube], reason_label: str) -> Release | None:
    """The lab refused `tubes` (already moved to `rejected` by the caller, inside the
    caller's transaction): their members become *recollect*.

    Called by `swabline.shipping` right after the tubes' status change. Side
    effects: one Release of kind `rejection` at the tubes' lab (the lab of the
    shipment they came on; `reason_label` is stored as its note), one `Outcome`
    `recollect` per active sample (a member whose newer individual result exists
    keeps it, see `logic`), one audit event `results.rejected`. Answers None when
    `tubes` is empty. Raises `PermissionDenied` unless `by` may receive tubes at
    that lab, `ValidationError` if a tube is not `rejected`. Listeners of
    `hooks.outcomes_written` run inside the transaction (the outbox).
    """
    tubes = list(tubes)
    if not tubes:
        return None
    lab = _lab_of(tubes)
    if not has_permission(by, Permission.RECEIVE_TUBES, lab):
        raise PermissionDenied
    statuses = set(
        Tube.objects.filter(pk__in=[t.pk for t in tubes]).values_list("status", flat=True)
    )
    if statuses != {TubeStatus.REJECTED}:
        raise ValidationError(_("Only rejected tubes make their people recollect."))
    with transaction.atomic():
        release = Release.objects.create(
            lab=lab,
            kind=ReleaseKind.REJECTION,
            released_by=by,
            note=str(reason_label)[:500],
        )
        people = logic.decide(release, rejected_tube_ids=[t.pk for t in tubes])
        Release.objects.filter(pk=release.pk).update(tubes=len(tubes), people=people)
        release.tubes, release.people = len(tubes), people
        if people:
            hooks.outcomes_written(release)
        audit.record(
            by=by,
            action="results.rejected",
            subject=release,
            province_code=lab.province_code,
            lab=lab.code,
            tubes=len(tubes),
            people=people,
        )
    return release


def amend_result(
    *,
    by: Any,
    result: TubeResult,
    value: str,
    ct_values: dict[str, float | None] | None = None,
    reason: str,
) -> TubeResult:
    """Correct a released result: a new released result replaces it.

    Only a lab supervisor of the result's lab (RELEASE_RESULTS), only the current
    released result of its tube, and only with a reason. Side effects, in one
    transaction: the old result becomes `superseded` (current False, kept in the
    history; the new one `amends` it); a Release of kind `correction` (tubes=1,
    people = outcome rows written); the tube's members' outcomes recomputed by the
    same pool logic (`logic.decide`), writing a new Outcome row only for people
    whose state changes — those rows, `release.outcomes`, are exactly who must be
    told again (the notifications of issue #6 read them); one audit event
    `results.amended`; `hooks.outcomes_written` for the changed people. Raises
    `PermissionDenied` or `ValidationError` (translated).
    """
    if not has_permission(by, Permission.RELEASE_RESULTS, result):
        raise PermissionDenied
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the result is corrected.")})
    if value not in ResultValue.values:
        raise ValidationError({"value": _("Choose negative, positive or invalid.")})
    with transaction.atomic():
        old = TubeResult.objects.select_for_update().get(pk=result.pk)
        if not (old.current and old.state == ResultState.RELEASED):
            raise ValidationError(_("Only a released result can be corrected."))
        now = timezone.now()
        release = Release.objects.create(
            lab_id=old.lab_id,
            kind=ReleaseKind.CORRECTION,
            released_by=by,
            released_at=now,
            tubes=1,
            note=reason[:500],
        )
        TubeResult.objects.filter(pk=old.pk).update(current=False, state=ResultState.SUPERSEDED)
        new = TubeResult.objects.create(
            tube_id=old.tube_id,
            lab_id=old.lab_id,
            value=value,
            ct_values=old.ct_values if ct_values is None else ct_values,
            method=old.method,
            well=old.well,
            run_id=old.run_id,
            source=old.source,
            state=ResultState.RELEASED,
            entered_by=by,
            entered_at=now,
            released_by=by,
            released_at=now,
            release=release,
            amends=old,
            amendment_reason=reason[:500],
        )
        people = logic.decide(release, only_changes=True)
        Release.objects.filter(pk=release.pk).update(people=people)
        release.people = people
        if people:
            hooks.outcomes_written(release)
        audit.record(
            by=by,
            action="results.amended",
            subject=new,
            province_code=release.lab.province_code,
            tube=new.tube.code,
            release=release.pk,
            **{"from": old.value, "to": value, "people_changed": people},
        )
    return new


def _existing(client_id: uuid.UUID | None) -> Release | None:
    if client_id is None:
        return None
    return Release.objects.filter(client_id=client_id).first()


def _lab_of(tubes: Sequence[Tube]) -> Lab:
    """The lab that rejected the tubes (their `TubeRejection`), else the lab of the
    live shipment they came on."""
    from swabline.shipping.models import ShipmentTube, TubeRejection

    ids = [t.pk for t in tubes]
    lab_ids = set(TubeRejection.objects.filter(tube__in=ids).values_list("lab_id", flat=True))
    if not lab_ids:
        lab_ids = set(
            ShipmentTube.objects.filter(tube__in=ids, active=True).values_list(
                "shipment__lab_id", flat=True
            )
        )
    if len(lab_ids) != 1:
        raise ValidationError(_("The rejected tubes must come from shipments to one lab."))
    return Lab.objects.select_related("place").get(pk=lab_ids.pop())
