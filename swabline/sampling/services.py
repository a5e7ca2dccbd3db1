"""Writes about tubes and samples: capture at a station, tube transitions, labels.

Every function takes keyword arguments, checks the caller's permission, and runs in
one transaction with its audit events inside it. Capture functions (`open_tube`,
`add_person`, `remove_last_person`, `close_tube`, `void_tube`) are single station
events: they go through the same engine as a synced batch (`apply_events`, see
the `sync` package), so they are idempotent on `event_id` and answer an
`EventResult` whose fate is applied, duplicate or conflict, never an exception for
a conflict.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.campaigns.models import Campaign, Site
from swabline.people import identity
from swabline.people.enums import DeclarationSource
from swabline.people.models import Person
from swabline.people.services import PersonInput, Registration, clean_person, register_person
from swabline.sampling import labels, messages, scans, sync
from swabline.sampling.codes import normalize_tube_code
from swabline.sampling.enums import (
    ALLOWED_TRANSITIONS,
    EventType,
    Fate,
    LabelBatchKind,
    SampleKind,
    TubeKind,
    TubeStatus,
)
from swabline.sampling.models import (
    LabelBatch,
    Sample,
    SamplingSettings,
    StationEvent,
    Tube,
    TubeLabel,
)
from swabline.sampling.sync import EventIn, EventResult

MAX_LABELS_PER_BATCH = 10_000


class InvalidTransition(Exception):
    """A tube status change that the allowed-transitions table forbids."""

    def __init__(self, tube: Tube, to: str) -> None:
        super().__init__(f"tube {tube.code}: {tube.status} → {to} is not allowed")
        self.current = tube.status
        self.to = to


class ScanError(ValidationError):
    """A scan that names nobody; `code` is the reason, the message is translated."""


# --- Tube transitions -------------------------------------------------------------


def transition(tube: Tube, to: str, *, by: Any, reason: str = "") -> Tube:
    """Move `tube` to status `to` along `ALLOWED_TRANSITIONS` and return it.

    Side effects, in one transaction: the status (with `closed_at` when closing, the
    reason when cancelling) is written by compare-and-set on the status the caller
    saw, so a concurrent change makes this fail instead of overwriting it; when
    cancelling, the tube's samples become inactive first (its people go back to
    "not sampled") and its count drops to 0; one audit event `tube.<status>`.
    Raises `InvalidTransition`, changing nothing, for a move the table forbids or a
    tube whose status changed meanwhile. The caller checks the permission (each
    service built on it: shipping, receiving, rejecting…). Outcomes of a rejected
    tube's members belong to the results app: they are derived, the samples stay.
    """
    current = tube.status
    if to not in ALLOWED_TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(tube, to)
    now = timezone.now()
    changes: dict[str, Any] = {"status": to}
    if to == TubeStatus.CLOSED:
        changes["closed_at"] = now
    if to == TubeStatus.VOID:
        changes.update(voided_reason=reason[:200], member_count=0)
    with transaction.atomic():
        if to == TubeStatus.VOID:
            locked = Tube.objects.select_for_update().filter(pk=tube.pk, status=current)
            if not locked.exists():
                raise InvalidTransition(tube, to)
            Sample.objects.filter(tube=tube, active=True).update(active=False, removed_at=now)
        if not Tube.objects.filter(pk=tube.pk, status=current).update(**changes):
            raise InvalidTransition(tube, to)
        audit.record(
            by=by,
            action=f"tube.{to}",
            subject=tube,
            province_code=tube.province_code,
            tube=tube.code,
            **{"from": current, "to": to, "reason": reason[:200]},
        )
    for name, value in changes.items():
        setattr(tube, name, value)
    return tube


# --- Capture: one event each --------------------------------------------------------


def apply_events(
    *, by: Any, site: Site, device_id: str, events: Sequence[EventIn]
) -> list[EventResult]:
    """Apply a station's batch of capture events at `site`; one result per event.

    Each event is applied once (its id is recorded with its fate; a replay answers
    "duplicate" with the first fate), in the station's order, and gets its own fate
    without undoing the others. Side effects: tubes, samples, labels marked used,
    the event log (`StationEvent`), audit events for tube changes and removals, the
    device's last sync (`DeviceSync`). Raises `PermissionDenied` unless `by` may
    capture at `site`, and `ValueError` for more than `sync.MAX_EVENTS` events.
    """
    _require_capture(by, site)
    if len(events) > sync.MAX_EVENTS:
        raise ValueError(f"at most {sync.MAX_EVENTS} events per batch")
    if not events:
        return []
    return sync.apply(by=by, site=site, device_id=device_id, events=events, now=timezone.now())


def open_tube(
    *,
    by: Any,
    site: Site,
    code: str,
    at: dt.datetime,
    event_id: uuid.UUID,
    kind: str = TubeKind.POOL,
    device_id: str = "",
) -> EventResult:
    """Open a tube with a label at `site`. Side effects: as `apply_events`, plus the
    label marked used. The tube's limit is the campaign's pool size (1 if individual)."""
    event = EventIn(event_id, EventType.OPEN_TUBE, at, tube=code, kind=kind)
    return _one(by=by, site=site, device_id=device_id, event=event)


def add_person(
    *,
    by: Any,
    tube: Tube,
    person: Person,
    at: dt.datetime,
    event_id: uuid.UUID,
    override: bool = False,
    kind: str = SampleKind.NORMAL,
    device_id: str = "",
) -> EventResult:
    """Put `person` into the open `tube` (swabbed at `at`, station clock).

    Conflict `already_sampled` when the person has an active sample in this campaign,
    unless `override` (then a second, recollection sample is kept beside the first,
    audited); duplicate `already_in_tube` when they are in this tube. A recall or
    recollection `kind` needs `override` until recall lists exist
    (`sync.recall_listed`). The tube closes itself when it reaches its limit.
    Side effects: one sample row, the tube's count (and status when full), the event log.
    """
    event = EventIn(
        event_id,
        EventType.ADD_PERSON,
        at,
        tube=tube.code,
        person=person.public_id,
        override=override,
        kind=kind,
    )
    return _one(by=by, site=tube.site, device_id=device_id, event=event)


def remove_last_person(
    *,
    by: Any,
    tube: Tube,
    at: dt.datetime,
    event_id: uuid.UUID,
    person: Person | None = None,
    device_id: str = "",
) -> EventResult:
    """Undo the last scan into the open `tube`: its last sample becomes inactive.

    With `person` (whom the station believes is last): duplicate `not_in_tube` if
    they are not in the tube, conflict `not_last` if someone else is last. Side
    effects: the sample's `active`/`removed_at`, the tube's count, an audit event,
    the event log.
    """
    event = EventIn(
        event_id,
        EventType.REMOVE_LAST,
        at,
        tube=tube.code,
        person=person.public_id if person is not None else "",
    )
    return _one(by=by, site=tube.site, device_id=device_id, event=event)


def close_tube(
    *, by: Any, tube: Tube, at: dt.datetime, event_id: uuid.UUID, device_id: str = ""
) -> EventResult:
    """Close the open `tube`; its members never change after this. Side effects: the
    status and `closed_at`, an audit event, the event log. An empty tube cannot be
    closed (cancel it instead)."""
    event = EventIn(event_id, EventType.CLOSE_TUBE, at, tube=tube.code)
    return _one(by=by, site=tube.site, device_id=device_id, event=event)


def void_tube(
    *,
    by: Any,
    tube: Tube,
    at: dt.datetime,
    event_id: uuid.UUID,
    reason: str = "",
    device_id: str = "",
) -> EventResult:
    """Cancel the open `tube`: its people go back to "not sampled" (their samples
    become inactive). Side effects: samples, the tube's status, count and reason,
    an audit event, the event log."""
    event = EventIn(event_id, EventType.VOID_TUBE, at, tube=tube.code, reason=reason)
    return _one(by=by, site=tube.site, device_id=device_id, event=event)


def _one(*, by: Any, site: Site, device_id: str, event: EventIn) -> EventResult:
    return apply_events(by=by, site=site, device_id=device_id, events=[event])[0]


def _require_capture(by: Any, site: Site) -> None:
    if not has_permission(by, Permission.CAPTURE_SAMPLES, site):
        raise PermissionDenied(_("You are not assigned to capture samples at this site."))


# --- People at the station ---------------------------------------------------------


def resolve_person(scan_text: str, *, by: Any, site: Site) -> Person:
    """The person a scan names: our QR, a CCCD chip-card QR, a typed person code or a
    public id. A CCCD that no record holds registers its holder in the site's ward
    (side effects: a person, a declaration, an audit event). Raises `ScanError`
    (translated message, `code` = reason) when the scan names nobody, and
    `PermissionDenied` unless `by` may capture at `site`."""
    _require_capture(by, site)
    try:
        with transaction.atomic():
            row = scans.resolve(scans.classify(scan_text), by=by, site=site)
    except scans.ScanError as exc:
        text = exc.detail or messages.render_lazy("", Fate.CONFLICT, exc.reason, {})
        raise ScanError(text, code=exc.reason) from exc
    return Person.objects.select_related("ward").get(pk=row.id)


@dataclass(frozen=True)
class QuickRegistration:
    person: Person
    created: bool
    replayed: bool


def quick_register(
    *, by: Any, site: Site, client_id: uuid.UUID, data: PersonInput, device_id: str = ""
) -> QuickRegistration:
    """Register someone on the spot (source: staff), idempotent on `client_id`.

    Allowed to whoever may capture at `site` or register people in the person's
    ward. Side effects: as `people.services.register_person` (person, declaration,
    audit), plus the event log entry that makes a retry return the same person.
    Raises `ValidationError` (per field) for bad input.
    """
    if not (
        has_permission(by, Permission.CAPTURE_SAMPLES, site)
        or has_permission(by, Permission.REGISTER_PEOPLE, data.ward)
    ):
        raise PermissionDenied(_("You may not register people here."))
    with transaction.atomic():
        earlier = _registration_event(client_id)
        if earlier is not None:
            return earlier
        registration = _register(data, by=by)
        person = registration.person
        try:
            with transaction.atomic():
                StationEvent.objects.create(
                    client_event_id=client_id,
                    device_id=device_id,
                    user=by,
                    site=site,
                    type=EventType.REGISTER_PERSON,
                    person=person,
                    payload={"created": registration.created},
                    client_at=timezone.now(),
                    fate=Fate.APPLIED,
                )
        except IntegrityError:
            return _registration_event(client_id) or QuickRegistration(person, False, True)
    return QuickRegistration(person, registration.created, False)


def _register(data: PersonInput, *, by: Any) -> Registration:
    try:
        with transaction.atomic():
            return register_person(data=data, by=by, source=DeclarationSource.STAFF)
    except IntegrityError:
        # register_person does not look up an existing record without a phone (its
        # identity key is ward-based) and trips on the unique key instead: find that
        # record by the same key. Harmless once people.services handles it.
        clean = clean_person(data)
        key = identity.identity_key(
            full_name=clean.full_name,
            birth_date=clean.birth_date,
            birth_year=clean.birth_year,
            phone=clean.phone,
            ward_id=clean.ward.pk,
            household_key="",
        )
        existing = Person.objects.filter(identity_key=key, merged_into__isnull=True).first()
        if existing is None:
            raise
        return Registration(person=existing, created=False)


def _registration_event(client_id: uuid.UUID) -> QuickRegistration | None:
    earlier = (
        StationEvent.objects.select_related("person__ward")
        .filter(client_event_id=client_id)
        .first()
    )
    if earlier is None:
        return None
    if earlier.type != EventType.REGISTER_PERSON or earlier.person is None:
        raise ValidationError(_("This request id was already used for something else."))
    return QuickRegistration(earlier.person, created=False, replayed=True)


def resolve_conflict(*, by: Any, event: StationEvent) -> bool:
    """Mark a recorded conflict as dealt with (it leaves the site view's count).
    Side effects: the event's `resolved_at`/`resolved_by`, an audit event. False if
    it was already resolved or is not a conflict."""
    if not (
        has_permission(by, Permission.CAPTURE_SAMPLES, event.site)
        or has_permission(by, Permission.MANAGE_SITES, event.site)
    ):
        raise PermissionDenied(_("You may not resolve conflicts at this site."))
    with transaction.atomic():
        done = StationEvent.objects.filter(
            pk=event.pk, fate=Fate.CONFLICT, resolved_at__isnull=True
        ).update(resolved_at=timezone.now(), resolved_by=by)
        if done:
            audit.record(
                by=by,
                action="station_event.resolved",
                subject=event,
                province_code=event.province_code,
                reason=event.reason,
            )
    return bool(done)


# --- Labels ---------------------------------------------------------------------


def generate_label_batch(
    *, by: Any, campaign: Campaign, count: int, site: Site | None = None
) -> LabelBatch:
    """Make `count` new tube label codes for `campaign`, issued to `site` if given.
    Side effects: a batch, its labels, an audit event. Print with
    `labels.label_sheet_pdf`."""
    _require_label_rights(by, campaign, site)
    if not 1 <= count <= MAX_LABELS_PER_BATCH:
        raise ValidationError(
            _("A batch has between 1 and %(max)s labels."), params={"max": MAX_LABELS_PER_BATCH}
        )
    with transaction.atomic():
        batch = LabelBatch.objects.create(
            campaign=campaign, site=site, kind=LabelBatchKind.GENERATED, count=count, created_by=by
        )
        made = 0
        while made < count:  # codes are random: a clash with an old label is retried
            rows = [
                TubeLabel(
                    code=code,
                    batch=batch,
                    campaign=campaign,
                    site=site,
                    province_code=campaign.province_code,
                )
                for code in labels.new_codes(count - made)
            ]
            TubeLabel.objects.bulk_create(rows, ignore_conflicts=True)
            made = TubeLabel.objects.filter(batch=batch).count()
        _audit_batch(by, batch)
    return batch


def register_supplier_labels(
    *, by: Any, campaign: Campaign, codes: Sequence[str], site: Site | None = None
) -> LabelBatch:
    """Record a supplier's pre-printed label codes (each must match the campaign's
    pattern and be new). Side effects: a batch, its labels, an audit event. Raises
    `ValidationError` listing the codes refused."""
    _require_label_rights(by, campaign, site)
    settings = SamplingSettings.objects.filter(campaign=campaign).first()
    cleaned = [normalize_tube_code(code) for code in codes if code.strip()]
    bad = [c for c in cleaned if settings is None or not settings.accepts_supplier_code(c)]
    taken = set(TubeLabel.objects.filter(code__in=cleaned).values_list("code", flat=True))
    taken |= {c for c in cleaned if cleaned.count(c) > 1}
    if not cleaned or bad or taken:
        raise ValidationError(
            _("These codes cannot be accepted: %(codes)s."),
            params={"codes": ", ".join(sorted({*bad, *taken})[:20]) or "—"},
        )
    with transaction.atomic():
        batch = LabelBatch.objects.create(
            campaign=campaign, site=site, kind=LabelBatchKind.SUPPLIER, count=len(cleaned),
            created_by=by,
        )  # fmt: skip
        TubeLabel.objects.bulk_create(
            [
                TubeLabel(
                    code=c,
                    batch=batch,
                    campaign=campaign,
                    site=site,
                    province_code=campaign.province_code,
                )
                for c in cleaned
            ]
        )
        _audit_batch(by, batch)
    return batch


def set_label_pattern(*, by: Any, campaign: Campaign, pattern: str) -> SamplingSettings:
    """Set the regular expression supplier labels must match in full ("" refuses them).
    Side effects: the campaign's sampling settings, an audit event."""
    _require_label_rights(by, campaign, None)
    pattern = pattern.strip()
    if len(pattern) > 200:
        raise ValidationError(_("The pattern is too long."))
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValidationError(
            _("This is not a valid regular expression: %(error)s"), params={"error": str(exc)}
        ) from exc
    if pattern and re.fullmatch(pattern, "") is not None:
        raise ValidationError(_("The pattern must not accept an empty label."))
    with transaction.atomic():
        settings, _created = SamplingSettings.objects.update_or_create(
            campaign=campaign, defaults={"label_pattern": pattern}
        )
        audit.record(
            by=by,
            action="sampling.label_pattern",
            subject=settings,
            province_code=campaign.province_code,
            pattern=pattern,
        )
    return settings


def _require_label_rights(by: Any, campaign: Campaign, site: Site | None) -> None:
    if not has_permission(by, Permission.MANAGE_SITES, site or campaign):
        raise PermissionDenied(_("You may not manage tube labels for this campaign."))
    if site is not None and site.campaign_id != campaign.pk:
        raise ValidationError(_("This site belongs to another campaign."))


def _audit_batch(by: Any, batch: LabelBatch) -> None:
    audit.record(
        by=by,
        action="sampling.labels_issued",
        subject=batch,
        province_code=batch.campaign.province_code,
        count=batch.count,
        kind=batch.kind,
        site=str(batch.site.public_id) if batch.site else "",
    )
