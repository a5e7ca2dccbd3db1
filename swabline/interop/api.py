"""`/api/v1/fhir`: FHIR R4 reads, the Bulk Data export, and partner consents.

Every FHIR answer is `application/fhir+json` (NDJSON files `application/fhir+ndjson`);
errors are OperationOutcomes. Access: EXPORT_DATA over the person's place, or
READ_CONSENTED_RESULTS with the person's active consent (`queries.access_condition`);
someone outside that scope gets 404, as if the person did not exist. Every read of
results is audited.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.campaigns.models import Campaign
from swabline.interop import exporting, fhir, queries, services
from swabline.interop.enums import EXPORT_TYPES, ExportStatus
from swabline.interop.models import BulkExport

router = Router(tags=["fhir"])

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
NDJSON_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
DEFAULT_COUNT = 50
MAX_COUNT = 500


def fhir_response(resource: fhir.Resource, status: int = 200, **headers: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(resource, ensure_ascii=False), content_type=FHIR_JSON, status=status
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def problem(status: int, code: str, text: str) -> HttpResponse:
    return fhir_response(fhir.operation_outcome(code, text), status=status)


def not_found() -> HttpResponse:
    return problem(404, "not-found", _("Not found."))


def forbidden() -> HttpResponse:
    return problem(403, "forbidden", _("You may not read results."))


def fhir_base(request: HttpRequest) -> str:
    prefix = request.path.split("/fhir/", 1)[0] + "/fhir"
    return request.build_absolute_uri(prefix)


def user_of(request: HttpRequest) -> Any:
    return request.user


# --- Parameters -------------------------------------------------------------------


class BadParameter(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name, self.message = name, message


def parse_instant(name: str, text: str, *, end_of_day: bool = False) -> dt.datetime:
    """An ISO date or datetime; a date means the start (or end) of that local day; a
    datetime without a zone is local time."""
    try:
        value = parse_datetime(text) if "T" in text else None
        day = parse_date(text) if value is None and len(text) == 10 else None
    except ValueError:
        value = day = None
    if value is None:
        if day is None:
            raise BadParameter(name, _("Not a date or time: %(value)s.") % {"value": text[:40]})
        value = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def issued_range(values: list[str]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """FHIR `issued` search values: ge/gt/le/lt prefixes, or a bare date for that day."""
    low: dt.datetime | None = None
    high: dt.datetime | None = None
    for raw in values:
        prefix, text = (
            (raw[:2], raw[2:]) if raw[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", raw)
        )
        if prefix in ("ge", "gt", "eq"):
            low = parse_instant("issued", text)
        if prefix in ("le", "lt", "eq"):
            high = parse_instant("issued", text, end_of_day=True)
    return low, high


def positive_int(name: str, text: str | None, default: int, maximum: int) -> int:
    if text in (None, ""):
        return default
    try:
        value = int(str(text))
    except ValueError:
        raise BadParameter(
            name, _("Not a whole number: %(value)s.") % {"value": str(text)[:20]}
        ) from None
    if value < 1:
        raise BadParameter(name, _("Must be 1 or more."))
    return min(value, maximum)


def bad(exc: BadParameter) -> HttpResponse:
    return problem(400, "invalid", f"{exc.name}: {exc.message}")


# --- Patient ----------------------------------------------------------------------


@router.get("/Patient/{patient_id}", url_name="fhir_patient_read")
def read_patient(request: HttpRequest, patient_id: str) -> HttpResponse:
    """The Patient with this id (or public id), if the caller may read them."""
    user = user_of(request)
    if not queries.may_read(user):
        return forbidden()
    person = queries.visible_person(user, fhir.public_id_of(patient_id))
    if person is None:
        return not_found()
    audit.record(
        by=user, action="fhir.patient_read", subject=person, province_code=person.province_code
    )
    return fhir_response(fhir.patient(queries.patient_data(person)))


@router.get("/Patient/{patient_id}/$everything", url_name="fhir_patient_everything")
def patient_everything(request: HttpRequest, patient_id: str) -> HttpResponse:
    """A searchset Bundle: the Patient and every released result of theirs (Specimens,
    Observations, DiagnosticReports, the labs, their pools)."""
    user = user_of(request)
    if not queries.may_read(user):
        return forbidden()
    person = queries.visible_person(user, fhir.public_id_of(patient_id))
    if person is None:
        return not_found()
    reports = queries.person_reports(user, person)
    resources = [fhir.patient(queries.patient_data(person))]
    for report in reports:
        resources += list(fhir.report_resources(report))
    bundle = fhir.searchset(fhir_base(request), resources, self_url=request.build_absolute_uri())
    audit.record(
        by=user,
        action="fhir.results_read",
        subject=person,
        province_code=person.province_code,
        reports=len(reports),
    )
    return fhir_response(bundle)


# --- DiagnosticReport search ------------------------------------------------------


@router.get("/DiagnosticReport", url_name="fhir_report_search")
def search_reports(request: HttpRequest) -> HttpResponse:
    """Released results as a searchset of DiagnosticReports (with their Patients,
    Specimens, Observations and labs included), oldest issued first.

    Parameters: `campaign` (campaign public id), `issued` (repeatable, `ge`/`le`
    prefixes or a date), `patient` (Patient id), `_count` (≤ 500), `page` (from 1).
    """
    user = user_of(request)
    if not queries.may_read(user):
        return forbidden()
    try:
        low, high = issued_range(request.GET.getlist("issued"))
        count = positive_int("_count", request.GET.get("_count"), DEFAULT_COUNT, MAX_COUNT)
        page = positive_int("page", request.GET.get("page"), 1, 1_000_000)
        campaign_id = _campaign_id(request.GET.get("campaign", ""))
        person_id = _person_id(user, request.GET.get("patient", ""))
    except BadParameter as exc:
        return bad(exc)
    if campaign_id == 0 or person_id == 0:
        return fhir_response(fhir.searchset(fhir_base(request), [], total=0))
    query = queries.ReportQuery(
        user=user, person_id=person_id, campaign_id=campaign_id, issued_ge=low, issued_le=high
    )
    total = queries.count_reports(query)
    reports = queries.page_of_reports(query, limit=count, offset=(page - 1) * count)
    resources: list[fhir.Resource] = []
    for report in reports:
        resources += list(fhir.report_resources(report))
    more = (page - 1) * count + len(reports) < total
    bundle = fhir.searchset(
        fhir_base(request),
        resources,
        total=total,
        self_url=_page_url(request, page),
        next_url=_page_url(request, page + 1) if more else "",
        matches=frozenset({"DiagnosticReport"}),
    )
    audit.record(
        by=user,
        action="fhir.results_searched",
        subject=user,
        reports=len(reports),
        page=page,
        campaign=request.GET.get("campaign", ""),
    )
    return fhir_response(bundle)


def _campaign_id(public_id: str) -> int | None:
    """None: no filter; 0: a campaign that does not exist (nothing matches)."""
    if not public_id:
        return None
    try:
        key = uuid.UUID(public_id)
    except ValueError:
        raise BadParameter("campaign", _("Not a campaign id.")) from None
    found = Campaign.objects.filter(public_id=key).values_list("pk", flat=True).first()
    return found or 0


def _person_id(user: Any, patient_id: str) -> int | None:
    if not patient_id:
        return None
    person = queries.visible_person(user, fhir.public_id_of(patient_id.removeprefix("Patient/")))
    return person.pk if person else 0


def _page_url(request: HttpRequest, page: int) -> str:
    params = [(k, v) for k, values in request.GET.lists() if k != "page" for v in values]
    params.append(("page", str(page)))
    return request.build_absolute_uri(request.path) + "?" + urlencode(params)


# --- Bulk export ------------------------------------------------------------------


@router.get("/$export", url_name="fhir_export")
def kick_off_export(request: HttpRequest) -> HttpResponse:
    """FHIR Bulk Data kick-off (system level): `_since`, `_until` (our extension: the
    end of the issued range), `_type` (comma-separated), `_outputFormat` (NDJSON).
    Answers 202 with `Content-Location`: the status URL to poll."""
    user = user_of(request)
    if not queries.may_read(user):
        return forbidden()
    try:
        since = _optional_instant("_since", request.GET.get("_since", ""))
        until = _optional_instant("_until", request.GET.get("_until", ""), end_of_day=True)
        output_format = request.GET.get("_outputFormat", "")
        if output_format and output_format not in NDJSON_FORMATS:
            raise BadParameter("_outputFormat", _("Only NDJSON is offered."))
    except BadParameter as exc:
        return bad(exc)
    types = [t.strip() for t in request.GET.get("_type", "").split(",") if t.strip()]
    try:
        job = services.start_export(
            by=user,
            since=since,
            until=until,
            types=types,
            request_url=request.build_absolute_uri(),
            base_url=fhir_base(request),
        )
    except ValidationError as exc:
        return problem(400, "invalid", " ".join(exc.messages))
    response = HttpResponse(status=202)
    response["Content-Location"] = _status_url(job)
    return response


def _optional_instant(name: str, text: str, *, end_of_day: bool = False) -> dt.datetime | None:
    return parse_instant(name, text, end_of_day=end_of_day) if text else None


def _status_url(job: BulkExport) -> str:
    return f"{job.base_url}/$export-status/{job.public_id}"


def _own_job(request: HttpRequest, job_id: str) -> BulkExport | None:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    return BulkExport.objects.filter(public_id=key, requested_by=user_of(request)).first()


@router.get("/$export-status/{job_id}", url_name="fhir_export_status")
def export_status(request: HttpRequest, job_id: str) -> HttpResponse:
    """202 with `X-Progress` while queued or running; 200 with the manifest when done;
    500 with an OperationOutcome if it failed. Only its requester sees it."""
    job = _own_job(request, job_id)
    if job is None or job.status in (ExportStatus.CANCELLED, ExportStatus.EXPIRED):
        return not_found()
    if job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING):
        response = HttpResponse(status=202)
        response["X-Progress"] = _progress_text(job)
        response["Retry-After"] = "5"
        return response
    if job.status == ExportStatus.FAILED and job.failure == exporting.DISK_FULL:
        text = _("The server ran out of disk space while writing the export. Start it again later.")
        return problem(500, "exception", text)
    if job.status == ExportStatus.FAILED:
        return problem(500, "exception", _("The export failed. Start it again."))
    return HttpResponse(json.dumps(_manifest(job)), content_type="application/json", status=200)


@router.delete("/$export-status/{job_id}", url_name="fhir_export_delete")
def delete_export(request: HttpRequest, job_id: str) -> HttpResponse:
    """Cancel a running export or delete a finished one's files (Bulk Data)."""
    job = _own_job(request, job_id)
    if job is None or job.status in (ExportStatus.CANCELLED, ExportStatus.EXPIRED):
        return not_found()
    services.cancel_export(by=user_of(request), job=job)
    return HttpResponse(status=202)


def _progress_text(job: BulkExport) -> str:
    if job.status == ExportStatus.QUEUED or not job.rows_total:
        return "waiting"  # a header: machine-readable, ASCII, not translated
    percent = min(100, round(100 * job.rows_done / job.rows_total))
    return f"{percent}% ({job.rows_done}/{job.rows_total})"


def _manifest(job: BulkExport) -> dict[str, Any]:
    finished = job.finished_at or timezone.now()
    return {
        "transactionTime": fhir.instant(job.started_at or finished),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {
                "type": item["type"],
                "url": f"{job.base_url}/$export-file/{job.public_id}/{item['type']}.ndjson",
                "count": item["count"],
            }
            for item in job.output
        ],
        "error": [],
    }


@router.get("/$export-file/{job_id}/{file_name}", url_name="fhir_export_file")
def export_file(request: HttpRequest, job_id: str, file_name: str) -> HttpResponse | FileResponse:
    """One NDJSON file of a finished export, to its requester only."""
    job = _own_job(request, job_id)
    resource_type = file_name.removesuffix(exporting.SUFFIX)
    listed = {item["type"] for item in (job.output if job else [])}
    if job is None or job.status != ExportStatus.DONE or resource_type not in listed:
        return not_found()
    path = exporting.file_path(job, resource_type)
    if resource_type not in EXPORT_TYPES or not path.is_file():
        return not_found()
    audit.record(
        by=user_of(request), action="fhir.export_downloaded", subject=job, type=resource_type
    )
    return FileResponse(path.open("rb"), content_type=NDJSON)


# --- Consent ----------------------------------------------------------------------


class ConsentIn(Schema):
    code: str
    birth: str


class ConsentOut(Schema):
    patient: str
    granted_at: dt.datetime
    revoked_at: dt.datetime | None = None
    active: bool


class RefusalOut(Schema):
    detail: str


def _consent_out(consent: Any) -> ConsentOut:
    return ConsentOut(
        patient=fhir.patient_id(consent.person.public_id),
        granted_at=consent.granted_at,
        revoked_at=consent.revoked_at,
        active=consent.revoked_at is None,
    )


def _refusal() -> Status[RefusalOut]:
    return Status(404, RefusalOut(detail=_("No person matches this code and date of birth.")))


@router.post(
    "/consents",
    response={200: ConsentOut, 201: ConsentOut, 403: RefusalOut, 404: RefusalOut, 429: RefusalOut},
    url_name="fhir_consent_grant",
)
def grant_consent(request: HttpRequest, payload: ConsentIn) -> Any:
    """A partner records a person's consent: the person's code and date of birth (or
    year) prove they gave it. 201 when new, 200 when it was already active; any
    mismatch gets one and the same 404."""
    try:
        consent, created = services.grant_consent(
            by=user_of(request), code=payload.code, birth=payload.birth
        )
    except PermissionDenied:
        return Status(403, RefusalOut(detail=_("This token may not record consents.")))
    except services.TooManyAttempts:
        return Status(429, RefusalOut(detail=_("Too many failed attempts. Try again later.")))
    except services.ConsentRefused:
        return _refusal()
    return Status(201 if created else 200, _consent_out(consent))


@router.delete(
    "/consents/{patient_id}",
    response={200: ConsentOut, 403: RefusalOut, 404: RefusalOut},
    url_name="fhir_consent_revoke",
)
def revoke_consent(request: HttpRequest, patient_id: str) -> Any:
    """A partner revokes the consent of the person it was given for (the Patient id
    it got when recording it). Revoking twice answers the same revoked consent."""
    user = user_of(request)
    if not has_permission(user, Permission.READ_CONSENTED_RESULTS):
        return Status(403, RefusalOut(detail=_("This token may not record consents.")))
    try:
        person = services.consented_person(partner=user, public_id=fhir.public_id_of(patient_id))
        consent = services.revoke_consent(by=user, person=person)
    except services.ConsentRefused:
        return Status(404, RefusalOut(detail=_("No consent of this person to you.")))
    return Status(200, _consent_out(consent))
