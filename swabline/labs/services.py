"""Writes at the lab bench: results tube by tube, undo before release, worklist alarms.

Every function takes keyword arguments, checks the caller's permission at the lab,
and runs in one transaction with its audit event inside it. Releasing and correcting
released results belong to `swabline.results.services` (the supervisor's step);
bulk uploads live in `swabline.labs.uploads` and follow the same rules set-based.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.campaigns.models import Campaign
from swabline.labs import queries
from swabline.labs.enums import ResultSource, ResultState, ResultValue
from swabline.labs.models import Lab, LabCampaignSettings, TubeResult
from swabline.sampling.codes import normalize_tube_code
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from swabline.sampling.services import transition

CT_MIN = 0.0
CT_MAX = 50.0
MAX_TARGETS = 8
MAX_ALARM_HOURS = 24 * 30

# Why a result is refused; the views and the API show the message, tests check codes.
MESSAGES: dict[str, Any] = {
    "unknown_tube": _("No tube has this code."),
    "not_at_lab": _("This tube has not been received at this lab."),
    "not_received": _("This tube is on its way but has not been received yet."),
    "rejected": _("This tube was rejected at receipt; it takes no result."),
    "unknown_value": _("The result must be negative, positive or invalid."),
    "bad_ct": _("A Ct value must be a number from 0 to 50."),
    "bad_target": _("A Ct value needs the name of its target gene (E, N, ORF1ab…)."),
    "contradiction": _(
        "This tube already has a different result (%(existing)s) waiting for release. "
        "Replace it explicitly if the new one is right."
    ),
    "released": _(
        "This tube's result (%(existing)s) is already released; only a supervisor can "
        "correct it, with a reason."
    ),
    "client_id_reused": _("This client id was already used for another tube."),
    "not_entered": _("Only a result waiting for release can be undone."),
}


class ResultRefused(ValidationError):
    """A result the rules refuse; `code` says why, the message is translated."""


def refused(code: str, **params: Any) -> ResultRefused:
    message = MESSAGES[code]
    return ResultRefused(message % params if params else message, code=code)


@dataclass(frozen=True)
class Recorded:
    """What `record_result` did: `created`, `replaced`, `unchanged` or `duplicate`."""

    result: TubeResult
    fate: str


def clean_ct(ct_values: dict[str, Any] | None) -> dict[str, float | None]:
    """Ct values per target as floats in 0–50 (None for a target without a Ct)."""
    cleaned: dict[str, float | None] = {}
    for target, raw in (ct_values or {}).items():
        name = str(target).strip()
        if not name or len(name) > 20 or len(cleaned) >= MAX_TARGETS:
            raise refused("bad_target")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            cleaned[name] = None
            continue
        cleaned[name] = parse_ct(raw)
    return cleaned


def parse_ct(raw: Any) -> float:
    """One Ct value; a decimal comma is accepted. Raises `ResultRefused` (bad_ct)."""
    if isinstance(raw, bool):
        raise refused("bad_ct")
    try:
        value = float(str(raw).strip().replace(",", ".")) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        raise refused("bad_ct") from None
    if math.isnan(value) or not CT_MIN <= value <= CT_MAX:
        raise refused("bad_ct")
    return round(value, 2)


def require(by: Any, perm: Permission, lab: Lab) -> None:
    if not has_permission(by, perm, lab):
        raise PermissionDenied


def record_result(
    *,
    by: Any,
    lab: Lab,
    value: str,
    tube_code: str = "",
    tube: Tube | None = None,
    ct_values: dict[str, Any] | None = None,
    method: str = "",
    well: str = "",
    run_id: str = "",
    source: str = ResultSource.MANUAL,
    client_id: uuid.UUID | None = None,
    replace: bool = False,
) -> Recorded:
    """Enter a tube's result at `lab` (ENTER_RESULTS there), to wait for release.

    The tube must have been received at this lab. Side effects in one transaction:
    a `TubeResult` (state entered, current); the tube `received → resulted` (through
    `sampling.services.transition`); an audit event `result.entered`. The same value
    again is a no-op (`unchanged`); a different value for an entered result is refused
    (`contradiction`) unless `replace`, which discards the old one (kept, not current);
    a released result is refused (`released`: a supervisor corrects it). A `client_id`
    seen before answers that first result (`duplicate`) and changes nothing.
    """
    require(by, Permission.ENTER_RESULTS, lab)
    if value not in ResultValue.values:
        raise refused("unknown_value")
    ct = clean_ct(ct_values)
    with transaction.atomic():
        if client_id is not None:
            earlier = TubeResult.objects.filter(client_id=client_id).first()
            if earlier is not None:
                if earlier.lab_id != lab.pk or (tube is not None and earlier.tube_id != tube.pk):
                    raise refused("client_id_reused")
                return Recorded(earlier, "duplicate")
        tube = _tube_at_lab(lab, tube, tube_code)
        current = TubeResult.objects.select_for_update().filter(tube=tube, current=True).first()
        if current is not None:
            if current.value == value:
                return Recorded(current, "unchanged")
            existing = ResultValue(current.value).label
            if current.state == ResultState.RELEASED:
                raise refused("released", existing=existing)
            if not replace:
                raise refused("contradiction", existing=existing)
            current.state, current.current = ResultState.DISCARDED, False
            current.save(update_fields=["state", "current"])
        elif tube.status == TubeStatus.RECEIVED:
            transition(tube, TubeStatus.RESULTED, by=by)
        result = TubeResult.objects.create(
            tube=tube,
            lab=lab,
            value=value,
            ct_values=ct,
            method=method[:100],
            well=well[:10],
            run_id=run_id[:100],
            source=source,
            client_id=client_id,
            entered_by=by,
        )
        audit.record(
            by=by,
            action="result.entered",
            subject=result,
            province_code=tube.province_code,
            tube=tube.code,
            value=value,
            source=source,
            replaced=current.pk if current is not None else None,
        )
    return Recorded(result, "replaced" if current is not None else "created")


def _tube_at_lab(lab: Lab, tube: Tube | None, tube_code: str) -> Tube:
    """The tube, locked, if it may take a result at `lab`; else `ResultRefused`."""
    if tube is None:
        code = normalize_tube_code(tube_code)
        tube = Tube.objects.select_for_update().filter(code=code).first() if code else None
        if tube is None:
            raise refused("unknown_tube")
    else:
        tube = Tube.objects.select_for_update().get(pk=tube.pk)
    if tube.status == TubeStatus.REJECTED:
        raise refused("rejected")
    if not queries.tubes_at_lab(lab).filter(pk=tube.pk).exists():
        if queries.on_its_way(lab, tube):
            raise refused("not_received")
        raise refused("not_at_lab")
    if tube.status not in (TubeStatus.RECEIVED, TubeStatus.RESULTED, TubeStatus.RELEASED):
        raise refused("not_received")
    return tube


def discard_result(*, by: Any, lab: Lab, tube_code: str) -> TubeResult:
    """Undo an entered result before release (ENTER_RESULTS at the lab).

    The result stays, `discarded` and not current; the tube stays `resulted` (the
    status trigger forbids going back) and returns to the worklist, which lists tubes
    without a current result. Audit event `result.discarded`.
    """
    require(by, Permission.ENTER_RESULTS, lab)
    with transaction.atomic():
        result = (
            TubeResult.objects.select_for_update()
            .select_related("tube")
            .filter(lab=lab, tube__code=normalize_tube_code(tube_code), current=True)
            .first()
        )
        if result is None or result.state != ResultState.ENTERED:
            raise refused("not_entered")
        result.state, result.current = ResultState.DISCARDED, False
        result.save(update_fields=["state", "current"])
        audit.record(
            by=by,
            action="result.discarded",
            subject=result,
            province_code=result.tube.province_code,
            tube=result.tube.code,
        )
    return result


def can_edit_settings(by: Any, lab: Lab, campaign: Campaign) -> bool:
    """Officials over the campaign's place, or the lab's supervisors."""
    return has_permission(by, Permission.MANAGE_CAMPAIGNS, campaign) or has_permission(
        by, Permission.RELEASE_RESULTS, lab
    )


def set_worklist_alarms(
    *, by: Any, lab: Lab, campaign: Campaign, warning_hours: int, alarm_hours: int
) -> LabCampaignSettings:
    """Set when a received tube waiting for a result is late (warning) and very late
    (alarm), for one campaign. Audit event `lab_settings.changed`."""
    if not can_edit_settings(by, lab, campaign):
        raise PermissionDenied
    if not 1 <= warning_hours < alarm_hours <= MAX_ALARM_HOURS:
        raise ValidationError(
            _("The warning must come before the alarm, both between 1 and %(max)s hours."),
            code="bad_hours",
            params={"max": MAX_ALARM_HOURS},
        )
    with transaction.atomic():
        settings, _created = LabCampaignSettings.objects.update_or_create(
            campaign=campaign,
            defaults={"worklist_warning_hours": warning_hours, "worklist_alarm_hours": alarm_hours},
        )
        audit.record(
            by=by,
            action="lab_settings.changed",
            subject=settings,
            province_code=campaign.province_code,
            warning_hours=warning_hours,
            alarm_hours=alarm_hours,
        )
    return settings
