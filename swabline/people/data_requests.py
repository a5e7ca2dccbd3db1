"""People's requests about their data, handled by staff: access (a JSON copy of
everything held) and erasure (pseudonymisation, `retention.erase_person`).

Staff need `HANDLE_DATA_REQUESTS` at the person's place (admins, officials). A
request is recorded with a reason (the letter, the form, the desk visit), then met:
an access request by downloading its export, an erasure by confirming it with the
person's code typed again. Every step is one transaction with its audit event
inside, so a refused audit write leaves nothing recorded, exported or erased.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission, scoped
from swabline.audit import services as audit
from swabline.people.codes import normalize_person_code
from swabline.people.enums import DataRequestKind, DataRequestStatus
from swabline.people.models import DataRequest, Person
from swabline.people.retention import erase_person, subject_access

PERM = Permission.HANDLE_DATA_REQUESTS
REASON_MAX = 500
REASON_MISSING = gettext_lazy("Write why: the letter, form or visit this request came from.")


def visible_requests(user: Any) -> QuerySet[DataRequest]:
    """The requests of people in the user's places (nothing without the permission)."""
    return scoped(
        DataRequest.objects.select_related("person__ward", "requested_by", "done_by"),
        user,
        PERM,
        place_path="person__ward__path",
    )


def record_request(
    *, by: Any, person: Person, kind: str, reason: str, client_id: uuid.UUID
) -> DataRequest:
    """Record that `person` asked for access to or erasure of their data.

    Raises PermissionDenied unless `by` handles data requests at the person's place,
    ValidationError for a missing reason, an unknown kind or erasing someone already
    erased. Idempotent per `client_id` (a form sent twice records one request).
    Side effects: one `DataRequest`, audit `people.data_request_recorded`.
    """
    if not has_permission(by, PERM, person):
        raise PermissionDenied
    existing = DataRequest.objects.filter(client_id=client_id).first()
    if existing is not None:
        return _same_request(existing, by)
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError(REASON_MISSING)
    if len(reason) > REASON_MAX:
        raise ValidationError(
            _("The reason is longer than %(max)s characters.") % {"max": REASON_MAX}
        )
    if kind not in DataRequestKind.values:
        raise ValidationError(_("Choose access or erasure."))
    if kind == DataRequestKind.ERASURE and person.pseudonymised_at is not None:
        raise ValidationError(_("This person's data has already been erased."))
    try:
        with transaction.atomic():
            request = DataRequest.objects.create(
                client_id=client_id, person=person, kind=kind, reason=reason, requested_by=by
            )
            audit.record(
                by=by,
                action="people.data_request_recorded",
                subject=person,
                province_code=person.province_code,
                request=str(request.public_id),
                kind=kind,
            )
    except IntegrityError:  # the same form, sent twice at once
        return _same_request(DataRequest.objects.get(client_id=client_id), by)
    return request


def _same_request(existing: DataRequest, by: Any) -> DataRequest:
    if existing.requested_by_id != by.pk:
        raise PermissionDenied
    return existing


def access_export(*, by: Any, request: DataRequest) -> dict[str, Any]:
    """The person's data as JSON-ready dicts, for an access request; the request is
    done from the first download on. Each download is audited
    (`people.subject_access`, and `people.data_request_done` the first time)."""
    _check(by, request, DataRequestKind.ACCESS)
    with transaction.atomic():
        report = subject_access(by=by, person=request.person)
        _mark_done(by, request)
    return {"request": _describe(request), **report}


def erase_on_request(*, by: Any, request: DataRequest, typed_code: str) -> bool:
    """Erase the person of an erasure request, once staff typed the person's code again
    (the confirmation). Answers False when the request was already done (nothing
    changes). Raises ValidationError for a wrong code. Side effects, one
    transaction: the pseudonymisation (audit `people.erase` with the request's
    reason) and the request done (audit `people.data_request_done`)."""
    _check(by, request, DataRequestKind.ERASURE)
    if request.status == DataRequestStatus.DONE:
        return False
    if normalize_person_code(typed_code) != request.person.code:
        raise ValidationError(_("The code typed is not this person's code: nothing was erased."))
    with transaction.atomic():
        locked = DataRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status == DataRequestStatus.DONE:
            return False
        erase_person(by=by, person=request.person, reason=request.reason)
        _mark_done(by, request)
    request.refresh_from_db()
    return True


def _check(by: Any, request: DataRequest, kind: str) -> None:
    if not has_permission(by, PERM, request):
        raise PermissionDenied
    if request.kind != kind:
        raise ValidationError(_("This is not that kind of request."))


def _mark_done(by: Any, request: DataRequest) -> None:
    now = timezone.now()
    changed = DataRequest.objects.filter(pk=request.pk, status=DataRequestStatus.OPEN).update(
        status=DataRequestStatus.DONE, done_by=by, done_at=now
    )
    if changed:
        audit.record(
            by=by,
            action="people.data_request_done",
            subject=request.person,
            province_code=request.province_code,
            request=str(request.public_id),
            kind=request.kind,
        )
        request.status, request.done_by, request.done_at = DataRequestStatus.DONE, by, now


def _describe(request: DataRequest) -> dict[str, Any]:
    return {
        "id": str(request.public_id),
        "kind": request.kind,
        "reason": request.reason,
        "recorded_at": request.created_at.isoformat(),
        "exported_at": timezone.now().isoformat(),
    }
