"""Writes of the interop app: partner consents and bulk exports.

Consent: a partner app proves that a person gave it their consent by sending the
person's code and date of birth (both printed on what the person holds). A wrong
code, a wrong date, a person outside the partner's places and an unknown person all
get the same refusal (`ConsentRefused`), and repeated failures block the partner for
a while (`CONSENT_FAILURE_LIMIT` per hour), so the call cannot be used to find out
whether someone is registered or to guess a birth date.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from swabline.accounts.enums import Permission, ScopeKind
from swabline.accounts.permissions import grants_for, has_permission
from swabline.audit import services as audit
from swabline.core import ratelimit
from swabline.interop import exporting
from swabline.interop.enums import EXPORT_TYPES, ExportStatus
from swabline.interop.models import BulkExport
from swabline.interop.queries import may_read
from swabline.people.codes import normalize_person_code
from swabline.people.identity import clean_birth
from swabline.people.models import Consent, Person

log = logging.getLogger(__name__)

FAILURE_WINDOW_SECONDS = 3600


class ConsentRefused(Exception):
    """No consent can be recorded or revoked: the one answer for every reason."""


class TooManyAttempts(Exception):
    """The partner failed too often within the hour."""


# --- Consent ----------------------------------------------------------------------


def _failure_key(partner: Any) -> str:
    return f"consent-failures:{partner.pk}"


def _failure_limit() -> int:
    return int(settings.CONSENT_FAILURE_LIMIT)


def _refuse(partner: Any) -> ConsentRefused:
    ratelimit.hit(
        _failure_key(partner), limit=_failure_limit(), window_seconds=FAILURE_WINDOW_SECONDS
    )
    return ConsentRefused()


def _partner_covers(partner: Any, person: Person) -> bool:
    held = grants_for(partner, Permission.READ_CONSENTED_RESULTS)
    return any(
        g.kind == ScopeKind.EVERYWHERE
        or (g.place_path is not None and person.ward.path.startswith(g.place_path))
        for g in held
    )


def _birth_matches(person: Person, birth: str) -> bool:
    try:
        date, year = clean_birth(birth)
    except ValidationError:
        return False
    if person.birth_date is not None:
        return date == person.birth_date
    # Only the year is on record: the year is all that can be checked.
    return year == person.birth_year


def find_for_consent(*, partner: Any, code: str, birth: str) -> Person:
    """The person whose code and date of birth these are, if `partner` may serve them.

    Raises `PermissionDenied` if `partner` holds no READ_CONSENTED_RESULTS,
    `TooManyAttempts` after too many failures this hour, else `ConsentRefused` for any
    mismatch (unknown code, wrong birth date, outside the partner's places)."""
    if not has_permission(partner, Permission.READ_CONSENTED_RESULTS):
        raise PermissionDenied
    limit = _failure_limit()
    if ratelimit.count(_failure_key(partner), window_seconds=FAILURE_WINDOW_SECONDS) >= limit:
        raise TooManyAttempts
    normalized = normalize_person_code(code or "")
    person = (
        Person.objects.select_related("ward")
        .filter(code=normalized or "", merged_into__isnull=True)
        .first()
    )
    if person is None or not _birth_matches(person, birth) or not _partner_covers(partner, person):
        raise _refuse(partner)
    return person


def grant_consent(*, by: Any, code: str, birth: str) -> tuple[Consent, bool]:
    """Record that the person with `code` and `birth` consents to partner `by` receiving
    their results. Idempotent: with an active consent already, answers it and False.

    Side effects, one transaction: a Consent row (the partial unique index keeps one
    active per person and partner, even under concurrent calls), an audit event
    `consent.granted`. Raises as `find_for_consent` does."""
    person = find_for_consent(partner=by, code=code, birth=birth)
    with transaction.atomic():
        existing = Consent.objects.filter(
            person=person, partner=by, revoked_at__isnull=True
        ).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                consent = Consent.objects.create(person=person, partner=by)
        except IntegrityError:
            return Consent.objects.get(person=person, partner=by, revoked_at__isnull=True), False
        audit.record(
            by=by, action="consent.granted", subject=consent, province_code=person.province_code
        )
    return consent, True


def revoke_consent(*, by: Any, person: Person, partner: Any | None = None) -> Consent:
    """End the active consent of `person` to `partner` (default: `by`, the partner).

    `by` is the partner itself, or staff who may HELP_CITIZENS in the person's place.
    Idempotent: revoking again answers the last revoked consent. Raises
    `ConsentRefused` if that partner never had this person's consent, else
    `PermissionDenied`. Side effects: `revoked_at` set (compare-and-set), an audit
    event `consent.revoked`."""
    partner = partner or by
    if partner.pk != by.pk and not has_permission(by, Permission.HELP_CITIZENS, person):
        raise PermissionDenied
    with transaction.atomic():
        now = timezone.now()
        active = Consent.objects.filter(person=person, partner=partner, revoked_at__isnull=True)
        consent = active.select_for_update().first()
        if consent is not None and active.filter(pk=consent.pk).update(revoked_at=now):
            consent.revoked_at = now
            audit.record(
                by=by,
                action="consent.revoked",
                subject=consent,
                province_code=person.province_code,
            )
            return consent
        last = (
            Consent.objects.filter(person=person, partner=partner).order_by("-revoked_at").first()
        )
        if last is None:
            raise ConsentRefused
        return last


def consented_person(*, partner: Any, public_id: str) -> Person:
    """The person with `public_id` who ever consented to `partner` (for revoking),
    else `ConsentRefused`."""
    person = (
        Person.objects.select_related("ward")
        .filter(public_id=public_id, consents__partner=partner)
        .first()
    )
    if person is None:
        raise ConsentRefused
    return person


# --- Bulk export ------------------------------------------------------------------


def start_export(
    *,
    by: Any,
    since: dt.datetime | None,
    until: dt.datetime | None,
    types: Sequence[str] = (),
    request_url: str,
    base_url: str,
) -> BulkExport:
    """Queue a bulk export of the results `by` may read, issued within [since, until].

    Raises `PermissionDenied` unless `by` may read results (EXPORT_DATA or
    READ_CONSENTED_RESULTS somewhere), `ValidationError` (field-keyed) for unknown
    types or a reversed range. Side effects: a BulkExport row, an audit event
    `fhir.export_requested`, the task enqueued on commit."""
    if not may_read(by):
        raise PermissionDenied
    unknown = sorted(set(types) - set(EXPORT_TYPES))
    if unknown:
        raise ValidationError(
            {"_type": _("Unknown resource types: %(types)s.") % {"types": ", ".join(unknown)}}
        )
    if since and until and since > until:
        raise ValidationError({"_until": _("The end of the range is before its start.")})
    from swabline.interop.tasks import run_fhir_export

    with transaction.atomic():
        job = BulkExport.objects.create(
            requested_by=by,
            since=since,
            until=until,
            types=[t for t in EXPORT_TYPES if t in types],
            request_url=request_url[:1000],
            base_url=base_url[:500],
            language=translation.get_language() or settings.LANGUAGE_CODE,
        )
        audit.record(
            by=by,
            action="fhir.export_requested",
            subject=job,
            since=since.isoformat() if since else None,
            until=until.isoformat() if until else None,
            types=job.types,
        )
        public_id = str(job.public_id)
        transaction.on_commit(lambda: run_fhir_export.enqueue(public_id))
    return job


def cancel_export(*, by: Any, job: BulkExport) -> None:
    """The requester deletes an export: cancelled if still running, its files removed.
    Side effects: status `cancelled` (unless already finished), an audit event."""
    if job.requested_by_id != by.pk:
        raise PermissionDenied
    with transaction.atomic():
        BulkExport.objects.filter(
            pk=job.pk, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]
        ).update(status=ExportStatus.CANCELLED, finished_at=timezone.now())
        audit.record(by=by, action="fhir.export_deleted", subject=job)
        transaction.on_commit(lambda: exporting.delete_files(job))


def claim_export(public_id: str) -> BulkExport | None:
    """Take a queued export (or one whose earlier attempt failed while running)."""
    claimed = BulkExport.objects.filter(
        public_id=public_id, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]
    ).update(status=ExportStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now())
    if not claimed:
        return None
    job = BulkExport.objects.get(public_id=public_id)
    BulkExport.objects.filter(pk=job.pk).update(attempts=job.attempts + 1)
    return job


def finish_export(job: BulkExport, output: list[dict[str, Any]]) -> None:
    """Mark `job` done with its files; audit what the requester received."""
    with transaction.atomic():
        done = BulkExport.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).update(
            status=ExportStatus.DONE, output=output, finished_at=timezone.now()
        )
        if done:
            audit.record(
                by=job.requested_by,
                action="fhir.exported",
                subject=job,
                **{item["type"]: item["count"] for item in output},
            )


def fail_export(job: BulkExport, reason: str) -> None:
    BulkExport.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).update(
        status=ExportStatus.FAILED, failure=reason[:500], finished_at=timezone.now()
    )
    exporting.delete_files(job)


def prune_exports(*, now: dt.datetime | None = None) -> int:
    """Delete the files of exports finished more than `FHIR_EXPORT_KEEP_HOURS` ago
    (personal data is not kept longer than the CDC needs to fetch it); they become
    `expired`. Run by the export worker after each export. Answers how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=settings.FHIR_EXPORT_KEEP_HOURS)
    old = list(
        BulkExport.objects.filter(
            status__in=[ExportStatus.DONE, ExportStatus.FAILED], finished_at__lt=cutoff
        )
    )
    for job in old:
        exporting.delete_files(job)
    return BulkExport.objects.filter(pk__in=[j.pk for j in old]).update(
        status=ExportStatus.EXPIRED, output=[]
    )
