"""Specimens: a person's swab, a pool's tube (subject a Group), the pool's Group."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from swabline.campaigns.enums import TestType
from swabline.interop.fhir.codes import (
    LOINC_ANTIGEN,
    LOINC_RT_PCR,
    SNOMED,
    SWABS,
    Resource,
    cached_text,
    concept,
    instant,
    patient_id,
    system,
)
from swabline.interop.fhir.rows import ReportData
from swabline.sampling.enums import SampleKind


def test_code(r: ReportData) -> tuple[str, str]:
    """LOINC by the lab's method text, else by the campaign's test type."""
    return _loinc(r.method, r.test_type)


@lru_cache(maxsize=256)
def _loinc(method_text: str, test_type: str) -> tuple[str, str]:
    method = method_text.lower()
    if any(word in method for word in ("antigen", "rapid", "nhanh", " ag", "ag ")):
        return LOINC_ANTIGEN
    if "pcr" in method:
        return LOINC_RT_PCR
    return LOINC_ANTIGEN if test_type == TestType.RAPID_ANTIGEN else LOINC_RT_PCR


def swab(r: ReportData) -> tuple[tuple[str, str], tuple[str, str]]:
    if test_code(r) == LOINC_ANTIGEN:
        return SWABS["nasopharyngeal"]
    return SWABS.get(str(settings.FHIR_PCR_SWAB_SITE), SWABS["oropharyngeal"])


def pool_group(r: ReportData) -> Resource:
    return {
        "resourceType": "Group",
        "id": r.ids.group,
        "identifier": [{"system": system("tube"), "value": r.tube_code}],
        "type": "person",
        "actual": True,
        "name": _("Pooled sample %(code)s") % {"code": r.tube_code},
        "quantity": r.tube_members,
    }


def pool_note(r: ReportData) -> dict[str, str]:
    """Written on up to four resources of a row: made once per row."""
    found: dict[str, str] | None = r.memo.get("pool-note")
    if found is None:
        found = r.memo["pool-note"] = {"text": _pool_note_text(r)}
    return found


def _pool_note_text(r: ReportData) -> str:
    def make() -> str:
        text = ngettext(
            "Pooled sample of %(count)s person.",
            "Pooled sample of %(count)s people.",
            r.tube_members,
        )
        return text % {"count": r.tube_members}

    return cached_text("pool-note", r.tube_members, make)


def _site_extension(r: ReportData) -> dict[str, str]:
    return {
        "url": system("StructureDefinition/collection-site"),
        "valueString": f"{r.site_name}, {r.site_ward_name}",
    }


def _specimen_status(r: ReportData) -> str:
    return "unsatisfactory" if r.rejected else "available"


def _rejection_condition(r: ReportData) -> list[dict[str, Any]]:
    return [{"text": _("Rejected by the laboratory: %(reason)s") % {"reason": r.rejection_reason}}]


def pool_specimen(r: ReportData) -> Resource:
    (type_code, type_display), (site_code, site_display) = swab(r)
    collection: dict[str, Any] = {
        "collectedPeriod": {"start": instant(r.tube_opened_at)},
        "bodySite": concept(SNOMED, site_code, site_display),
        "extension": [_site_extension(r)],
    }
    if r.tube_closed_at:
        collection["collectedPeriod"]["end"] = instant(r.tube_closed_at)
    resource: Resource = {
        "resourceType": "Specimen",
        "id": r.ids.pool_specimen,
        "accessionIdentifier": {"system": system("tube"), "value": r.tube_code},
        "status": _specimen_status(r),
        "type": concept(SNOMED, type_code, type_display),
        "subject": {"reference": f"Group/{r.ids.group}"},
        "collection": collection,
        "note": [pool_note(r)],
        "extension": [
            {"url": system("StructureDefinition/pool-size"), "valueUnsignedInt": r.tube_members}
        ],
    }
    if r.rejected:
        resource["condition"] = _rejection_condition(r)
    return resource


def person_specimen(r: ReportData) -> Resource:
    """The person's swab: their share of a pool (`parent` the pool), or the whole
    individual tube."""
    (type_code, type_display), (site_code, site_display) = swab(r)
    resource: Resource = {
        "resourceType": "Specimen",
        "id": r.ids.specimen,
        "status": _specimen_status(r),
        "type": concept(SNOMED, type_code, type_display),
        "subject": {"reference": f"Patient/{patient_id(r.patient.public_id)}"},
        "collection": {
            "collectedDateTime": instant(r.collected_at),
            "bodySite": concept(SNOMED, site_code, site_display),
            "extension": [_site_extension(r)],
        },
    }
    if r.pooled:
        resource["parent"] = [{"reference": f"Specimen/{r.ids.pool_specimen}"}]
        resource["note"] = [pool_note(r)]
    else:
        resource["accessionIdentifier"] = {"system": system("tube"), "value": r.tube_code}
    if r.sample_kind == SampleKind.RECALL:
        resource.setdefault("note", []).append(
            {"text": _("Individual sample taken after a positive pool (recall).")}
        )
    if r.rejected:
        resource["condition"] = _rejection_condition(r)
    return resource
