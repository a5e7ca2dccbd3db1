"""Retention: personal data is pseudonymised once a person has been inactive for the
retention period, and on request (erasure). Aggregates stay countable.

What a pseudonymised person keeps: the row itself (so samples, outcomes, tubes and
every count per ward, sex and year of birth stay the same), the public id (an opaque
random id), the ward, sex and year of birth. What goes: name, date of birth, phone,
e-mail, CCCD (and a claimed one), address, household, the duplicate-detection key,
health declarations, issued certificates (they carry name and date of birth), the
recipients of past messages, merge snapshots and active partner consents. The
personal code and the QR token are replaced by new random ones, so neither a printed
QR nor the look-up finds the person again.

Everything is set-based and runs in chunks, one transaction per chunk; a run is
idempotent (pseudonymised people are never picked again).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from swabline.audit.models import AuditEvent
from swabline.audit.services import record as audit
from swabline.people.codes import new_person_code, new_qr_token
from swabline.people.models import (
    Consent,
    Declaration,
    ImportStatus,
    PeopleImport,
    Person,
    PersonMerge,
)

PSEUDONYM = "—"
CHUNK = 5_000


@dataclass(frozen=True)
class RetentionRun:
    cutoff: dt.datetime
    people: int


def inactive_people(cutoff: dt.datetime) -> QuerySet[Person]:
    """People with no registration, declaration, sample, outcome or message since `cutoff`."""
    from swabline.notifications.models import Notification
    from swabline.results.models import Outcome
    from swabline.sampling.models import Sample

    recent = Q(created_at__gte=cutoff) | Q(updated_at__gte=cutoff)
    return (
        Person.objects.filter(pseudonymised_at__isnull=True)
        .exclude(recent)
        .exclude(Exists(Declaration.objects.filter(person=OuterRef("pk"), declared_at__gte=cutoff)))
        .exclude(Exists(Sample.objects.filter(person=OuterRef("pk"), collected_at__gte=cutoff)))
        .exclude(Exists(Outcome.objects.filter(person=OuterRef("pk"), decided_at__gte=cutoff)))
        .exclude(Exists(Notification.objects.filter(person=OuterRef("pk"), created_at__gte=cutoff)))
    )


def apply_retention(*, days: int, by: Any = None, now: dt.datetime | None = None) -> RetentionRun:
    """Pseudonymise everyone inactive for `days` days; returns how many."""
    if days < 1:
        raise ValueError("the retention period is at least one day")
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    ids = list(inactive_people(cutoff).order_by("pk").values_list("pk", flat=True))
    done = 0
    for chunk in _chunks(ids, CHUNK):
        done += pseudonymise(chunk)
    AuditEvent.objects.create(
        actor_id=getattr(by, "pk", None),
        actor_label=getattr(by, "username", "") or "",
        action="people.retention",
        subject_type="retention",
        subject_id=cutoff.date().isoformat(),
        data={"days": days, "people": done},
    )
    return RetentionRun(cutoff=cutoff, people=done)


def purge_import_uploads(*, hours: int | None = None, now: dt.datetime | None = None) -> int:
    """Delete uploaded people lists, their side files (cleaned rows, failing rows) and
    the row errors kept on the import, once nothing happened to the import for
    `hours` (`IMPORT_UPLOAD_KEEP_HOURS`). Counts stay. An import still queued or
    importing that long is stuck: it is marked failed (its file is gone). Idempotent;
    one audit event per run that deleted something. Answers how many imports."""
    from swabline.people import importing

    keep = settings.IMPORT_UPLOAD_KEEP_HOURS if hours is None else hours
    if keep < 1:
        raise ValueError("uploads are kept at least one hour")
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=keep)
    recent = Q()
    for stamp in ("created_at", "validated_at", "queued_at", "started_at", "heartbeat_at"):
        recent |= Q(**{f"{stamp}__gte": cutoff})
    old = PeopleImport.objects.filter(files_deleted_at__isnull=True).exclude(recent)
    old = old.exclude(finished_at__gte=cutoff)
    done = 0
    for imp in old.only("pk", "public_id", "status").iterator():
        shutil.rmtree(importing.import_dir() / str(imp.public_id), ignore_errors=True)
        changes: dict[str, Any] = {"files_deleted_at": now, "errors": []}
        if imp.status in (ImportStatus.QUEUED, ImportStatus.IMPORTING):
            changes |= {
                "status": ImportStatus.FAILED,
                "finished_at": now,
                "failure": gettext("The file was deleted after it waited too long to import."),
            }
        done += PeopleImport.objects.filter(pk=imp.pk, files_deleted_at__isnull=True).update(
            **changes
        )
    if done:
        AuditEvent.objects.create(
            action="people_import.files_deleted",
            subject_type="retention",
            subject_id=cutoff.isoformat(timespec="minutes"),
            data={"hours": keep, "imports": done},
        )
    return done


def erase_person(*, by: Any, person: Person, reason: str) -> None:
    """Erasure on the person's request: the same pseudonymisation, for one person, audited."""
    with transaction.atomic():
        pseudonymise([person.pk])
        audit(
            by=by,
            action="people.erase",
            subject=person,
            province_code=person.province_code,
            reason=reason[:300],
        )


def pseudonymise(person_ids: Sequence[int]) -> int:
    """Strip the personal data of these people (one transaction); returns how many changed."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _pseudonymise(person_ids)
        except IntegrityError:  # a new random code or token collided: draw again
            if attempt == 2:
                raise
    return 0  # pragma: no cover


def _pseudonymise(person_ids: Sequence[int]) -> int:
    from swabline.certificates.models import Certificate
    from swabline.notifications.models import Notification

    now = timezone.now()
    people = Person.objects.filter(pk__in=person_ids, pseudonymised_at__isnull=True)
    ids = list(people.select_for_update().values_list("pk", flat=True))
    if not ids:
        return 0
    Declaration.objects.filter(person_id__in=ids).delete()
    Certificate.objects.filter(outcome__person_id__in=ids).delete()
    Notification.objects.filter(person_id__in=ids).exclude(recipient="").update(recipient="")
    PersonMerge.objects.filter(Q(merged_id__in=ids) | Q(survivor_id__in=ids)).update(snapshot={})
    Consent.objects.filter(person_id__in=ids, revoked_at__isnull=True).update(revoked_at=now)
    Person.objects.filter(pk__in=ids).update(
        full_name=PSEUDONYM,
        name_folded="",
        birth_date=None,
        phone="",
        email="",
        national_id=None,
        claimed_national_id="",
        address="",
        household_key="",
        is_household_head=False,
        identity_key=None,
        pseudonymised_at=now,
    )
    # New random code and QR token per person: the old ones must lead nowhere.
    Person.objects.bulk_update(
        [Person(pk=pk, code=new_person_code(), qr_token=new_qr_token()) for pk in ids],
        ["code", "qr_token"],
        batch_size=1_000,
    )
    return len(ids)


def _chunks(items: Iterable[int], size: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def subject_access(*, by: Any, person: Person) -> dict[str, Any]:
    """Everything held about one person, for a subject access request (audited).

    Plain JSON-ready data: the record, declarations, samples (tube, site, time),
    outcomes, messages (channel, status, times; not their text), consents and
    certificates issued, plus who looked at or changed the record (audit events).
    """
    from swabline.certificates.models import Certificate
    from swabline.notifications.models import Notification
    from swabline.results.models import Outcome
    from swabline.sampling.models import Sample

    def when(value: dt.datetime | dt.date | None) -> str | None:
        return value.isoformat() if value is not None else None

    report = {
        "person": {
            "public_id": person.public_id,
            "code": person.code,
            "full_name": person.full_name,
            "birth_date": when(person.birth_date),
            "birth_year": person.birth_year,
            "sex": person.sex,
            "phone": person.phone,
            "email": person.email,
            "national_id": person.national_id,
            "ward": person.ward.name,
            "address": person.address,
            "registered_at": when(person.created_at),
            "pseudonymised_at": when(person.pseudonymised_at),
        },
        "declarations": [
            {
                "declared_at": when(d.declared_at),
                "source": d.source,
                "symptoms": d.symptoms,
                "contact_with_case": d.contact_with_case,
                "recent_travel": d.recent_travel,
            }
            for d in Declaration.objects.filter(person=person).order_by("declared_at")
        ],
        "samples": [
            {
                "campaign": s.campaign.name,
                "tube": s.tube.code,
                "site": s.tube.site.name,
                "kind": s.kind,
                "collected_at": when(s.collected_at),
                "active": s.active,
            }
            for s in Sample.objects.filter(person=person)
            .select_related("campaign", "tube__site")
            .order_by("collected_at")
        ],
        "outcomes": [
            {
                "campaign": o.campaign.name,
                "state": o.state,
                "current": o.current,
                "decided_at": when(o.decided_at),
            }
            for o in Outcome.objects.filter(person=person)
            .select_related("campaign")
            .order_by("decided_at")
        ],
        "messages": [
            {
                "channel": n.channel,
                "status": n.status,
                "created_at": when(n.created_at),
                "delivered_at": when(n.delivered_at),
            }
            for n in Notification.objects.filter(person=person).order_by("created_at")
        ],
        "consents": [
            {
                "partner": c.partner.username,
                "granted_at": when(c.granted_at),
                "revoked_at": when(c.revoked_at),
            }
            for c in Consent.objects.filter(person=person).select_related("partner")
        ],
        "certificates": [
            {"uvci": c.uvci, "issued_at": when(c.issued_at), "expires_at": when(c.expires_at)}
            for c in Certificate.objects.filter(outcome__person=person)
        ],
        "access_log": [
            {"at": when(e.at), "by": e.actor_label, "action": e.action}
            for e in AuditEvent.objects.filter(
                subject_type=Person._meta.label_lower, subject_id=str(person.pk)
            ).order_by("at")
        ],
    }
    audit(
        by=by,
        action="people.subject_access",
        subject=person,
        province_code=person.province_code,
    )
    return report
