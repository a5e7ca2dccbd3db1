"""FHIR R4 resources for released results, as plain dicts (no ORM here).

`swabline.interop.queries` reads rows (`PatientData`, `ReportData`) set-based; these
functions turn one row into the resources it stands for. Choices and their reasons
are in docs/decisions/0008-fhir-mapping.md; in short:

- **References** are relative (`Patient/<id>`) everywhere; in a Bundle each entry's
  `fullUrl` is the absolute URL of the same id under our FHIR base, so every
  reference resolves inside the Bundle, and NDJSON lines refer to each other as
  the Bulk Data spec asks.
- **Ids** are stable: a Patient's id is its public id (`_` read as `.`, FHIR ids
  allow no underscore); other ids are UUIDv5 of what they stand for (a tube, a
  sample), so the same resource keeps its id across exports and a corrected
  result updates the same DiagnosticReport. Integer keys never leave the server.
- **A pooled tube** is one Specimen whose subject is a Group (the pool: N people,
  members not listed, so nobody's bundle names the others); each person's share is
  a Specimen with that pool as `parent`. The lab's Observation is on the pool
  Specimen; each person gets a derived Observation (`derivedFrom` the pool's) with
  what it means for them: not detected, or *recall* (pool positive: individual
  retest needed).
- **A rejected tube** has no Observation: its Specimens are `unsatisfactory` and the
  DiagnosticReport is `cancelled` with the conclusion *recollect*.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from swabline.campaigns.enums import TestType
from swabline.labs.enums import ResultValue
from swabline.results.enums import OutcomeState
from swabline.sampling.enums import SampleKind, TubeKind

Resource = dict[str, Any]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# The 12-digit citizen identity card (CCCD) number issued by the Ministry of Public
# Security. No HL7-registered system exists for it yet: an OID-less URN naming the
# issuer keeps it unambiguous and is easy to map once a national system is published.
VN_NATIONAL_ID = "urn:vn:bocongan:cccd"
# Administrative unit codes of Vietnam (provinces and wards), published by the
# General Statistics Office.
VN_ADMIN_UNITS = "https://danhmuchanhchinh.gso.gov.vn"

LOINC_RT_PCR = (
    "94500-6",
    "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA with probe detection",
)
LOINC_ANTIGEN = (
    "94558-4",
    "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay",
)
DETECTED = ("260373001", "Detected")
NOT_DETECTED = ("260415000", "Not detected")
SWABS = {
    "nasopharyngeal": (
        ("258500001", "Nasopharyngeal swab"),
        ("71836000", "Nasopharyngeal structure"),
    ),
    "oropharyngeal": (
        ("258529004", "Throat swab"),
        ("31389004", "Oropharyngeal structure"),
    ),
}
GENDER = {"F": "female", "M": "male", "O": "other"}
ID_NAMESPACE = uuid.UUID("9a4f4d0e-4c1e-5b8e-9d43-6f1d2b0c7a51")


_systems: dict[str, str] = {}


def base() -> str:
    return str(settings.FHIR_IDENTIFIER_BASE).rstrip("/")


def system(name: str) -> str:
    """A URI of ours: identifier systems, code systems, extensions (memoised: a bulk
    export asks for a dozen per row; cleared when the setting changes)."""
    found = _systems.get(name)
    if found is None:
        found = _systems[name] = f"{base()}/{name}"
    return found


@receiver(setting_changed)
def _forget_systems(*, setting: str, **kwargs: Any) -> None:
    if setting == "FHIR_IDENTIFIER_BASE":
        _systems.clear()


def stable_id(kind: str, key: object) -> str:
    """A resource id that is the same in every export and reveals no database key:
    `uuid.uuid5(ID_NAMESPACE, f"{kind}:{key}")`, computed without the UUID object
    (a bulk export makes six per row)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{kind}:{key}".encode()).digest()[:16])  # noqa: S324 — UUIDv5 is SHA-1 by definition
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAMESPACE_BYTES = ID_NAMESPACE.bytes
_texts: dict[tuple[str, str, object], str] = {}


def cached_text(key: str, arg: object, make: Callable[[], str]) -> str:
    """A translated text made once per language (bulk exports repeat a few texts)."""
    lang = translation.get_language() or ""
    found = _texts.get((lang, key, arg))
    if found is None:
        if len(_texts) > 10_000:
            _texts.clear()
        found = _texts[(lang, key, arg)] = make()
    return found


def patient_id(public_id: str) -> str:
    """FHIR ids allow `A-Za-z0-9-.`; our public ids are URL-safe base64 (`-` and `_`)."""
    return public_id.replace("_", ".")


def public_id_of(fhir_id: str) -> str:
    return fhir_id.replace(".", "_")


def ref(resource: Resource) -> dict[str, str]:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def coding(system_: str, code: str, display: str = "") -> dict[str, str]:
    out = {"system": system_, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system_: str, code: str, display: str = "", text: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [coding(system_, code, display)]}
    if text:
        out["text"] = text
    return out


@lru_cache(maxsize=4096)
def instant(value: dt.datetime) -> str:
    """An aware datetime as a FHIR instant/dateTime (UTC, seconds). Memoised: a report
    row writes each of its times two or three times."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- Input rows -------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientData:
    public_id: str
    code: str
    full_name: str
    birth_date: dt.date | None
    birth_year: int
    sex: str
    phone: str
    national_id: str | None
    address: str
    ward_code: str
    ward_name: str
    province_code: str
    province_name: str


@dataclass(frozen=True)
class LabData:
    public_id: str
    code: str
    name: str


@dataclass(frozen=True)
class Ids:
    """The ids of a report row's resources: its pool's (Group, Specimen, Observation),
    then the person's (Specimen, Observation, DiagnosticReport)."""

    group: str
    pool_specimen: str
    pool_observation: str
    specimen: str
    observation: str
    report: str


@dataclass(frozen=True)
class ReportData:
    """One person's sample in a tube whose result was released (or that was rejected)."""

    patient: PatientData
    sample_key: int
    sample_kind: str
    collected_at: dt.datetime
    tube_key: int
    tube_code: str
    tube_kind: str
    tube_members: int
    tube_opened_at: dt.datetime
    tube_closed_at: dt.datetime | None
    site_name: str
    site_ward_name: str
    campaign_public_id: str
    campaign_name: str
    test_type: str
    lab: LabData | None
    result_key: int | None = None
    value: str | None = None
    method: str = ""
    ct_values: dict[str, float | None] = field(default_factory=dict)
    released_at: dt.datetime | None = None
    amended_value: str | None = None
    amendment_reason: str = ""
    rejected_at: dt.datetime | None = None
    rejection_reason: str = ""

    @cached_property
    def ids(self) -> Ids:
        return Ids(
            group=stable_id("pool", self.tube_key),
            pool_specimen=stable_id("tube", self.tube_key),
            pool_observation=stable_id("tube-observation", self.tube_key),
            specimen=stable_id("sample", self.sample_key),
            observation=stable_id("observation", self.sample_key),
            report=stable_id("report", self.sample_key),
        )

    @cached_property
    def memo(self) -> dict[str, Any]:
        """Values the mapping computes once per row (translated texts)."""
        return {}

    @property
    def pooled(self) -> bool:
        return self.tube_kind == TubeKind.POOL

    @property
    def rejected(self) -> bool:
        return self.result_key is None

    @property
    def issued(self) -> dt.datetime:
        when = self.released_at or self.rejected_at
        assert when is not None
        return when


# --- Patient ----------------------------------------------------------------------------


def human_name(full_name: str) -> dict[str, Any]:
    """Vietnamese order: family name first, then middle and given names
    ("Nguyễn Thị Bích Ngọc" → family "Nguyễn", given ["Thị", "Bích", "Ngọc"]);
    `text` keeps the name as written, which is how it must be displayed."""
    parts = full_name.split()
    name: dict[str, Any] = {"use": "official", "text": " ".join(parts)}
    if parts:
        name["family"] = parts[0]
    if len(parts) > 1:
        name["given"] = parts[1:]
    return name


def patient(p: PatientData) -> Resource:
    identifiers: list[dict[str, Any]] = [
        {
            "use": "usual",
            "type": concept(V2_0203, "MR", "Medical record number"),
            "system": system("person-code"),
            "value": p.code,
        },
        {"use": "secondary", "system": system("person-id"), "value": p.public_id},
    ]
    if p.national_id:
        identifiers.append(
            {
                "use": "official",
                "type": concept(V2_0203, "NI", "National unique individual identifier"),
                "system": VN_NATIONAL_ID,
                "value": p.national_id,
            }
        )
    resource: Resource = {
        "resourceType": "Patient",
        "id": patient_id(p.public_id),
        "identifier": identifiers,
        "name": [human_name(p.full_name)],
        "gender": GENDER.get(p.sex, "unknown"),
        "birthDate": p.birth_date.isoformat() if p.birth_date else f"{p.birth_year:04d}",
        "address": [address(p)],
    }
    if p.phone:
        resource["telecom"] = [{"system": "phone", "value": p.phone, "use": "mobile"}]
    return resource


def address(p: PatientData) -> dict[str, Any]:
    """Since July 2025 Vietnam has two levels: province and ward (phường/xã); the ward
    goes in `city`, the province in `state`, each with its official code."""
    out: dict[str, Any] = {
        "use": "home",
        "type": "physical",
        "text": ", ".join(x for x in (p.address, p.ward_name, p.province_name) if x),
        "city": p.ward_name,
        "country": "VN",
        "extension": [
            {
                "url": system("StructureDefinition/ward"),
                "valueCoding": coding(VN_ADMIN_UNITS, p.ward_code, p.ward_name),
            },
        ],
    }
    if p.address:
        out["line"] = [p.address]
    if p.province_name:
        out["state"] = p.province_name
        out["extension"].append(
            {
                "url": system("StructureDefinition/province"),
                "valueCoding": coding(VN_ADMIN_UNITS, p.province_code, p.province_name),
            }
        )
    return out


def organization(lab: LabData) -> Resource:
    return {
        "resourceType": "Organization",
        "id": lab.public_id,
        "identifier": [{"system": system("lab"), "value": lab.code}],
        "active": True,
        "type": [
            concept(
                "http://terminology.hl7.org/CodeSystem/organization-type",
                "prov",
                "Healthcare Provider",
            )
        ],
        "name": lab.name,
    }


# --- Specimens and the pool -------------------------------------------------------------


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


def _pool_note(r: ReportData) -> dict[str, str]:
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
        "note": [_pool_note(r)],
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
        resource["note"] = [_pool_note(r)]
    else:
        resource["accessionIdentifier"] = {"system": system("tube"), "value": r.tube_code}
    if r.sample_kind == SampleKind.RECALL:
        resource.setdefault("note", []).append(
            {"text": _("Individual sample taken after a positive pool (recall).")}
        )
    if r.rejected:
        resource["condition"] = _rejection_condition(r)
    return resource


# --- Observations and the report --------------------------------------------------------


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
    resource["note"] = [*resource.get("note", []), _pool_note(r)]
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
        resource["note"] = [*resource.get("note", []), _pool_note(r)]
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


# --- Bundles ----------------------------------------------------------------------------


def full_url(fhir_base: str, resource: Resource) -> str:
    return f"{fhir_base.rstrip('/')}/{resource['resourceType']}/{resource['id']}"


def searchset(
    fhir_base: str,
    resources: list[Resource],
    *,
    total: int | None = None,
    self_url: str = "",
    next_url: str = "",
    matches: frozenset[str] = frozenset(),
) -> Resource:
    """A searchset Bundle: entries with absolute `fullUrl`s (duplicates dropped), mode
    `match` for the resource types searched (`matches`; all when empty), else
    `include`."""
    seen: set[tuple[str, str]] = set()
    entries = []
    for resource in resources:
        key = (resource["resourceType"], resource["id"])
        if key in seen:
            continue
        seen.add(key)
        mode = "match" if not matches or resource["resourceType"] in matches else "include"
        entries.append(
            {
                "fullUrl": full_url(fhir_base, resource),
                "resource": resource,
                "search": {"mode": mode},
            }
        )
    bundle: Resource = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    links = [("self", self_url), ("next", next_url)]
    if any(url for _, url in links):
        bundle["link"] = [{"relation": rel, "url": url} for rel, url in links if url]
    bundle["entry"] = entries
    return bundle


def operation_outcome(code: str, text: str, severity: str = "error") -> Resource:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": text}],
    }
