"""Observations (the pool's and each person's) and the DiagnosticReport."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _

from swabline.interop.fhir.codes import (
    DATA_ABSENT,
    DETECTED,
    LOINC,
    NOT_DETECTED,
    OBSERVATION_CATEGORY,
    SNOMED,
    V2_0074,
    Resource,
    cached_text,
    concept,
    instant,
    patient_id,
    system,
)
from swabline.interop.fhir.patient import organization, patient
from swabline.interop.fhir.rows import ReportData
from swabline.interop.fhir.specimens import (
    person_specimen,
    pool_group,
    pool_note,
    pool_specimen,
    test_code,
)
from swabline.labs.enums import ResultValue
from swabline.results.enums import OutcomeState


def status(r: ReportData) -> str:
    """final; a correction that changed the value is `corrected`, one that kept it
    (e.g. Ct values fixed) `amended`."""
    if r.amended_value is None:
        return "final"
    return "corrected" if r.amended_value != r.value else "amended"


def person_outcome(r: ReportData) -> str:
    """What this sample's result means for this person (the pool logic's table)."""
    if r.rejected or r.value == ResultValue.INVALID:
        return OutcomeState.RECOLLECT
    if r.value == ResultValue.POSITIVE:
        return OutcomeState.RECALL if r.pooled else OutcomeState.POSITIVE
    return OutcomeState.NEGATIVE


def _row_outcome_concept(r: ReportData, state: str) -> dict[str, Any]:
    found: dict[str, Any] | None = r.memo.get("outcome")
    if found is None:
        found = r.memo["outcome"] = outcome_concept(state)
    return found


def outcome_concept(state: str) -> dict[str, Any]:
    label = cached_text("outcome", state, lambda: str(OutcomeState(state).label))
    return concept(system("CodeSystem/outcome"), state, label)


def _value(value: str | None) -> dict[str, Any]:
    if value == ResultValue.POSITIVE:
        return {"valueCodeableConcept": concept(SNOMED, *DETECTED)}
    if value == ResultValue.NEGATIVE:
        return {"valueCodeableConcept": concept(SNOMED, *NOT_DETECTED)}
    return {"dataAbsentReason": concept(DATA_ABSENT, "error", "Error")}


def _ct_components(r: ReportData) -> list[dict[str, Any]]:
    return [
        {
            "code": {"text": f"Ct {gene}"},
            "valueQuantity": {"value": ct, "unit": "cycles"},
        }
        for gene, ct in sorted(r.ct_values.items())
        if isinstance(ct, int | float)
    ]


def _observation_base(r: ReportData) -> Resource:
    code, display = test_code(r)
    resource: Resource = {
        "resourceType": "Observation",
        "status": status(r),
        "category": [concept(OBSERVATION_CATEGORY, "laboratory", "Laboratory")],
        "code": concept(LOINC, code, display),
        "issued": instant(r.issued),
    }
    if r.lab is not None:
        resource["performer"] = [{"reference": f"Organization/{r.lab.public_id}"}]
    if r.amendment_reason:
        resource["note"] = [{"text": _("Corrected: %(reason)s") % {"reason": r.amendment_reason}}]
    return resource


def pool_observation(r: ReportData) -> Resource:
    """The lab's measurement on the pooled tube."""
    resource = _observation_base(r)
    resource.update(
        id=r.ids.pool_observation,
        subject={"reference": f"Group/{r.ids.group}"},
        specimen={"reference": f"Specimen/{r.ids.pool_specimen}"},
        effectivePeriod=pool_specimen(r)["collection"]["collectedPeriod"],
        **_value(r.value),
    )
    resource["note"] = [*resource.get("note", []), pool_note(r)]
    if components := _ct_components(r):
        resource["component"] = components
    return resource


def person_observation(r: ReportData) -> Resource:
    """The result for this person: the tube's own for an individual tube; for a pool,
    derived from the pool's (not detected, or recall: individual retest needed)."""
    resource = _observation_base(r)
    resource.update(
        id=r.ids.observation,
        subject={"reference": f"Patient/{patient_id(r.patient.public_id)}"},
        specimen={"reference": f"Specimen/{r.ids.specimen}"},
        effectiveDateTime=instant(r.collected_at),
    )
    outcome = person_outcome(r)
    if not r.pooled:
        resource.update(_value(r.value))
        if components := _ct_components(r):
            resource["component"] = components
    else:
        resource["derivedFrom"] = [{"reference": f"Observation/{r.ids.pool_observation}"}]
        resource["method"] = {"text": _("Pooled testing")}
        if r.value in (ResultValue.NEGATIVE, ResultValue.INVALID):
            # A negative pool clears each member; an invalid one tells them nothing.
            resource.update(_value(r.value))
        resource["note"] = [*resource.get("note", []), pool_note(r)]
    resource["interpretation"] = [_row_outcome_concept(r, outcome)]
    return resource


CONCLUSIONS = {
    OutcomeState.NEGATIVE: lambda: _("Not detected."),
    OutcomeState.POSITIVE: lambda: _("Detected."),
    OutcomeState.RECALL: lambda: _(
        "The pooled sample was positive: an individual sample is needed (recall)."
    ),
    OutcomeState.RECOLLECT: lambda: _("No valid result: a new sample is needed."),
}


def diagnostic_report(r: ReportData) -> Resource:
    code, display = test_code(r)
    outcome = person_outcome(r)
    resource: Resource = {
        "resourceType": "DiagnosticReport",
        "id": r.ids.report,
        "identifier": [{"system": system("report"), "value": r.ids.report}],
        "status": "cancelled" if r.rejected else status(r),
        "category": [concept(V2_0074, "LAB", "Laboratory")],
        "code": concept(LOINC, code, display),
        "subject": {"reference": f"Patient/{patient_id(r.patient.public_id)}"},
        "effectiveDateTime": instant(r.collected_at),
        "issued": instant(r.issued),
        "specimen": [{"reference": f"Specimen/{r.ids.specimen}"}],
        "conclusion": cached_text("conclusion", outcome, CONCLUSIONS[OutcomeState(outcome)]),
        "conclusionCode": [_row_outcome_concept(r, outcome)],
        "extension": [
            {
                "url": system("StructureDefinition/campaign"),
                "valueIdentifier": {"system": system("campaign"), "value": r.campaign_public_id},
            }
        ],
    }
    if r.lab is not None:
        resource["performer"] = [{"reference": f"Organization/{r.lab.public_id}"}]
    if not r.rejected:
        results = [{"reference": f"Observation/{r.ids.observation}"}]
        if r.pooled:
            results.insert(0, {"reference": f"Observation/{r.ids.pool_observation}"})
        resource["result"] = results
    elif r.rejection_reason:
        resource["conclusion"] += " " + _("Rejected by the laboratory: %(reason)s") % {
            "reason": r.rejection_reason
        }
    return resource


def report_resources(r: ReportData) -> Iterator[Resource]:
    """Every resource one report row stands for, Patient first; shared ones (the pool's
    Group, Specimen and Observation, the lab) included — callers deduplicate by id."""
    yield patient(r.patient)
    if r.lab is not None:
        yield organization(r.lab)
    if r.pooled:
        yield pool_group(r)
        yield pool_specimen(r)
    yield person_specimen(r)
    if not r.rejected:
        if r.pooled:
            yield pool_observation(r)
        yield person_observation(r)
    yield diagnostic_report(r)
