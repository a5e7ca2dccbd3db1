"""Reads for FHIR: released (and rejected) results as report rows, scoped to the user.

One SQL statement joins each active sample of a tube that has a released current
result (or was rejected) with its person, ward, province, tube, site, campaign,
result, the result it corrects and the lab — every row complete, no query per row.
The bulk export reads it through a server-side cursor in chunks
(`iter_reports`), so memory stays flat whatever the number of rows.

Who sees whom (`access_condition`):

- EXPORT_DATA (officials, data entry, admin): the people whose ward lies in the
  places where the user holds it (a ward officer their ward, a province officer
  the province, an admin everyone);
- READ_CONSENTED_RESULTS (partner apps): only people with an active consent to
  that partner, and within the partner's places if its assignment has one;
- anyone else: nobody.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_date, parse_datetime

from swabline.accounts.enums import Permission, ScopeKind
from swabline.accounts.permissions import grants_for
from swabline.interop.fhir import LabData, PatientData, ReportData
from swabline.labs.enums import ResultState
from swabline.people.models import Person
from swabline.places.enums import Level
from swabline.sampling.enums import TubeStatus

CHUNK_SIZE = 2000

COLUMNS = """
  p.public_id, p.code, p.full_name, p.birth_date, p.birth_year, p.sex, p.phone,
  p.national_id, p.address, w.code, w.name, p.province_code, pv.name,
  s.id, s.kind, s.collected_at,
  t.id, t.code, t.kind, t.member_count, t.client_opened_at, t.closed_at,
  si.name, sw.name, c.public_id, c.name, c.test_type,
  r.id, r.value, r.method, r.ct_values, r.released_at, a.value, r.amendment_reason,
  l.public_id, l.code, l.name,
  tr.rejected_at, tr.reason, rl.public_id, rl.code, rl.name
"""
FROM = """
FROM sampling_sample s
JOIN sampling_tube t ON t.id = s.tube_id
JOIN people_person p ON p.id = s.person_id
JOIN places_place w ON w.id = p.ward_id
LEFT JOIN places_place pv ON pv.system = w.system AND pv.level = %s
  AND pv.code = p.province_code
JOIN campaigns_site si ON si.id = t.site_id
JOIN places_place sw ON sw.id = si.ward_id
JOIN campaigns_campaign c ON c.id = t.campaign_id
LEFT JOIN labs_tuberesult r ON r.tube_id = t.id AND r.current = %s AND r.state = %s
LEFT JOIN labs_tuberesult a ON a.id = r.amends_id
LEFT JOIN labs_lab l ON l.id = r.lab_id
LEFT JOIN shipping_tuberejection tr ON tr.tube_id = t.id AND t.status = %s
LEFT JOIN labs_lab rl ON rl.id = tr.lab_id
WHERE s.active = %s AND t.status IN (%s, %s) AND (r.id IS NOT NULL OR tr.id IS NOT NULL)
"""
ISSUED = "COALESCE(r.released_at, tr.rejected_at)"


def access_condition(user: Any) -> tuple[str, list[Any]]:
    """SQL over `p` (person) and `w` (their ward) for the people `user` may read."""
    parts: list[str] = []
    params: list[Any] = []
    for g in grants_for(user, Permission.EXPORT_DATA):
        if g.kind == ScopeKind.EVERYWHERE:
            return "1 = 1", []
        if g.place_path:
            parts.append("w.path LIKE %s")
            params.append(g.place_path + "%")
    partner = grants_for(user, Permission.READ_CONSENTED_RESULTS)
    if partner:
        consent = (
            "EXISTS (SELECT 1 FROM people_consent k WHERE k.person_id = p.id"
            " AND k.partner_id = %s AND k.revoked_at IS NULL)"
        )
        if any(g.kind == ScopeKind.EVERYWHERE for g in partner):
            parts.append(consent)
            params.append(user.pk)
        else:
            paths = [g.place_path for g in partner if g.place_path]
            if paths:
                within = " OR ".join("w.path LIKE %s" for _ in paths)
                parts.append(f"({consent} AND ({within}))")
                params += [user.pk, *[path + "%" for path in paths]]
    if not parts:
        return "1 = 0", []
    return "(" + " OR ".join(parts) + ")", params


def may_read(user: Any) -> bool:
    """Whether `user` may read FHIR results of anyone at all (else: 403)."""
    return bool(
        grants_for(user, Permission.EXPORT_DATA)
        or grants_for(user, Permission.READ_CONSENTED_RESULTS)
    )


@dataclass(frozen=True)
class ReportQuery:
    """Which report rows: the user's scope plus optional filters."""

    user: Any
    person_id: int | None = None
    campaign_id: int | None = None
    issued_ge: dt.datetime | None = None
    issued_le: dt.datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        condition, params = access_condition(self.user)
        sql = [
            FROM,
            f"AND {condition}",
        ]
        params = [
            Level.PROVINCE,
            True,
            ResultState.RELEASED,
            TubeStatus.REJECTED,
            True,
            TubeStatus.RELEASED,
            TubeStatus.REJECTED,
            *params,
        ]
        if self.person_id is not None:
            sql.append("AND p.id = %s")
            params.append(self.person_id)
        if self.campaign_id is not None:
            sql.append("AND t.campaign_id = %s")
            params.append(self.campaign_id)
        if self.issued_ge is not None:
            sql.append(f"AND {ISSUED} >= %s")
            params.append(connection.ops.adapt_datetimefield_value(self.issued_ge))
        if self.issued_le is not None:
            sql.append(f"AND {ISSUED} <= %s")
            params.append(connection.ops.adapt_datetimefield_value(self.issued_le))
        return "\n".join(sql), params


def count_reports(query: ReportQuery) -> int:
    where, params = query.where()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {where}", params)
        return int(cursor.fetchone()[0])


def page_of_reports(query: ReportQuery, *, limit: int, offset: int) -> list[ReportData]:
    """One page, oldest issued first (stable: then by sample)."""
    where, params = query.where()
    sql = f"SELECT {COLUMNS} {where} ORDER BY {ISSUED}, s.id LIMIT %s OFFSET %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit, offset])
        return [to_report(row) for row in cursor.fetchall()]


def iter_reports(query: ReportQuery, *, chunk_size: int = CHUNK_SIZE) -> Iterator[ReportData]:
    """Every row, by person then sample, read `chunk_size` at a time through a
    server-side cursor on PostgreSQL (SQLite steps through its result the same way)."""
    where, params = query.where()
    sql = f"SELECT {COLUMNS} {where} ORDER BY p.id, s.id"
    connection.ensure_connection()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            for row in rows:
                yield to_report(row)


def person_reports(user: Any, person: Person) -> list[ReportData]:
    return list(iter_reports(ReportQuery(user=user, person_id=person.pk)))


# --- Rows to data -------------------------------------------------------------------


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        parsed = parse_datetime(value)
        assert parsed is not None, value
        value = parsed
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _maybe_datetime(value: Any) -> dt.datetime | None:
    return None if value is None else _datetime(value)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return parse_date(str(value))


def _uuid(value: Any) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return value if isinstance(value, dict) else {}


def _rejection_label(reason: str | None) -> str:
    from swabline.shipping.enums import RejectionReason

    if not reason:
        return ""
    return str(RejectionReason(reason).label) if reason in RejectionReason.values else reason


def to_report(row: tuple[Any, ...]) -> ReportData:
    (
        public_id, code, full_name, birth_date, birth_year, sex, phone, national_id, address,
        ward_code, ward_name, province_code, province_name,
        sample_id, sample_kind, collected_at,
        tube_id, tube_code, tube_kind, members, opened_at, closed_at,
        site_name, site_ward, campaign_id, campaign_name, test_type,
        result_id, value, method, ct_values, released_at, amended_value, amendment_reason,
        lab_id, lab_code, lab_name,
        rejected_at, rejection_reason, rlab_id, rlab_code, rlab_name,
    ) = row  # fmt: skip
    patient = PatientData(
        public_id=public_id,
        code=code,
        full_name=full_name,
        birth_date=_date(birth_date),
        birth_year=int(birth_year),
        sex=sex,
        phone=phone or "",
        national_id=national_id or None,
        address=address or "",
        ward_code=ward_code,
        ward_name=ward_name,
        province_code=province_code,
        province_name=province_name or "",
    )
    if result_id is not None and lab_id is not None:
        lab: LabData | None = LabData(_uuid(lab_id), lab_code, lab_name)
    elif rlab_id is not None:
        lab = LabData(_uuid(rlab_id), rlab_code, rlab_name)
    else:
        lab = None
    return ReportData(
        patient=patient,
        sample_key=int(sample_id),
        sample_kind=sample_kind,
        collected_at=_datetime(collected_at),
        tube_key=int(tube_id),
        tube_code=tube_code,
        tube_kind=tube_kind,
        tube_members=int(members),
        tube_opened_at=_datetime(opened_at),
        tube_closed_at=_maybe_datetime(closed_at),
        site_name=site_name,
        site_ward_name=site_ward,
        campaign_public_id=_uuid(campaign_id),
        campaign_name=campaign_name,
        test_type=test_type,
        lab=lab,
        result_key=None if result_id is None else int(result_id),
        value=value,
        method=method or "",
        ct_values=_json(ct_values) if result_id is not None else {},
        released_at=_maybe_datetime(released_at),
        amended_value=amended_value,
        amendment_reason=amendment_reason or "",
        rejected_at=None if result_id is not None else _maybe_datetime(rejected_at),
        rejection_reason=_rejection_label(rejection_reason) if result_id is None else "",
    )


def visible_person(user: Any, public_id: str) -> Person | None:
    """The person with `public_id` if `user` may read them, else None (callers 404)."""
    condition, params = access_condition(user)
    sql = (
        "SELECT p.id FROM people_person p JOIN places_place w ON w.id = p.ward_id"  # noqa: S608
        f" WHERE p.public_id = %s AND p.merged_into_id IS NULL AND {condition}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [public_id, *params])
        found = cursor.fetchone()
    if found is None:
        return None
    return Person.objects.select_related("ward").get(pk=found[0])


def patient_data(person: Person) -> PatientData:
    """A person (ward loaded) as the Patient mapping's input: one query for the province."""
    from swabline.places.models import Place

    province = (
        Place.objects.filter(
            system=person.ward.system, level=Level.PROVINCE, code=person.province_code
        )
        .values_list("name", flat=True)
        .first()
    )
    return PatientData(
        public_id=person.public_id,
        code=person.code,
        full_name=person.full_name,
        birth_date=person.birth_date,
        birth_year=person.birth_year,
        sex=person.sex,
        phone=person.phone,
        national_id=person.national_id,
        address=person.address,
        ward_code=person.ward.code,
        ward_name=person.ward.name,
        province_code=person.province_code,
        province_name=province or "",
    )
