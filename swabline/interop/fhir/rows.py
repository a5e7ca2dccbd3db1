"""The mapping's input: plain rows read by `swabline.interop.queries`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from swabline.interop.fhir.codes import stable_id
from swabline.sampling.enums import TubeKind


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
