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

from swabline.interop.fhir.bundles import full_url, operation_outcome, searchset
from swabline.interop.fhir.codes import (
    ID_NAMESPACE,
    LOINC,
    SNOMED,
    V2_0203,
    VN_NATIONAL_ID,
    Resource,
    instant,
    patient_id,
    public_id_of,
    stable_id,
    system,
)
from swabline.interop.fhir.patient import address, human_name, organization, patient
from swabline.interop.fhir.reports import (
    diagnostic_report,
    outcome_concept,
    person_observation,
    person_outcome,
    pool_observation,
    report_resources,
    status,
)
from swabline.interop.fhir.rows import Ids, LabData, PatientData, ReportData
from swabline.interop.fhir.specimens import (
    person_specimen,
    pool_group,
    pool_specimen,
    swab,
    test_code,
)

__all__ = [
    "ID_NAMESPACE",
    "LOINC",
    "SNOMED",
    "V2_0203",
    "VN_NATIONAL_ID",
    "Ids",
    "LabData",
    "PatientData",
    "ReportData",
    "Resource",
    "address",
    "diagnostic_report",
    "full_url",
    "human_name",
    "instant",
    "operation_outcome",
    "organization",
    "outcome_concept",
    "patient",
    "patient_id",
    "person_observation",
    "person_outcome",
    "person_specimen",
    "pool_group",
    "pool_observation",
    "pool_specimen",
    "public_id_of",
    "report_resources",
    "searchset",
    "stable_id",
    "status",
    "swab",
    "system",
    "test_code",
]
