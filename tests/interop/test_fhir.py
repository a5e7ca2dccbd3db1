"""The mapping from released results to FHIR resources, case by case; every Bundle
parses with fhir.resources' R4B models and every reference resolves inside it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.utils import translation

from swabline.campaigns.enums import TestType as CampaignTestType
from swabline.interop import fhir, queries
from tests.interop import cases
from tests.interop.validation import assert_references_resolve, validate_r4b
from tests.results.helpers import released

pytestmark = pytest.mark.django_db

BASE = "https://fhir.test/api/v1/fhir"


@pytest.fixture
def c(world):
    return cases.build(world)


def bundle_of(world: Any, person: Any) -> dict[str, Any]:
    with translation.override("en"):
        reports = queries.person_reports(world.users["admin"], person)
        resources = [fhir.patient(queries.patient_data(person))]
        for report in reports:
            resources += list(fhir.report_resources(report))
        return fhir.searchset(BASE, resources)


def of_type(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def by_ref(bundle: dict[str, Any], reference: str) -> dict[str, Any]:
    [found] = [
        e["resource"]
        for e in bundle["entry"]
        if f"{e['resource']['resourceType']}/{e['resource']['id']}" == reference
    ]
    return found


def codes(concept: dict[str, Any]) -> list[str]:
    return [c["code"] for c in concept["coding"]]


def test_every_case_validates_and_resolves(world, c):
    people = [
        c.negative, c.positive, c.corrected, c.year_only, c.bare, *c.pool_negative,
        *c.pool_positive, *c.rejected,
    ]  # fmt: skip
    for person in people:
        bundle = bundle_of(world, person)
        validate_r4b(bundle)
        assert_references_resolve(bundle)
        for entry in bundle["entry"]:
            validate_r4b(entry["resource"])


def test_patient_identifiers_name_birth_address_phone(world, c):
    [patient] = of_type(bundle_of(world, c.negative), "Patient")
    p = c.negative
    assert patient["id"] == p.public_id.replace("_", ".")
    assert fhir.public_id_of(patient["id"]) == p.public_id
    assert patient["identifier"] == [
        {
            "use": "usual",
            "type": {
                "coding": [
                    {"system": fhir.V2_0203, "code": "MR", "display": "Medical record number"}
                ]
            },
            "system": "https://swabline.example.org/fhir/person-code",
            "value": p.code,
        },
        {
            "use": "secondary",
            "system": "https://swabline.example.org/fhir/person-id",
            "value": p.public_id,
        },
        {
            "use": "official",
            "type": {
                "coding": [
                    {
                        "system": fhir.V2_0203,
                        "code": "NI",
                        "display": "National unique individual identifier",
                    }
                ]
            },
            "system": fhir.VN_NATIONAL_ID,
            "value": "079186001234",
        },
    ]
    assert patient["name"] == [
        {
            "use": "official",
            "text": "Nguyễn Thị Bích Ngọc",
            "family": "Nguyễn",
            "given": ["Thị", "Bích", "Ngọc"],
        }
    ]
    assert (patient["gender"], patient["birthDate"]) == ("female", "1980-05-17")
    assert patient["telecom"] == [{"system": "phone", "value": p.phone, "use": "mobile"}]
    [address] = patient["address"]
    assert (address["city"], address["state"], address["country"]) == (
        world.ward_a.name,
        world.province.name,
        "VN",
    )
    assert [e["valueCoding"]["code"] for e in address["extension"]] == [
        world.ward_a.code,
        world.province.code,
    ]


def test_identifier_base_is_configurable(world, c, settings):
    settings.FHIR_IDENTIFIER_BASE = "https://so-y-te.example.vn/fhir/"
    [patient] = of_type(bundle_of(world, c.negative), "Patient")
    assert patient["identifier"][0]["system"] == "https://so-y-te.example.vn/fhir/person-code"


def test_year_only_birth_and_a_person_without_cccd_or_phone(world, c):
    [old] = of_type(bundle_of(world, c.year_only), "Patient")
    assert old["birthDate"] == "1961"
    [bare] = of_type(bundle_of(world, c.bare), "Patient")
    assert "telecom" not in bare
    assert [i["system"] for i in bare["identifier"]] == [
        "https://swabline.example.org/fhir/person-code",
        "https://swabline.example.org/fhir/person-id",
    ]


def test_a_one_word_name_is_a_family_name():
    assert fhir.human_name("Tám") == {"use": "official", "text": "Tám", "family": "Tám"}


def test_individual_negative(world, c):
    bundle = bundle_of(world, c.negative)
    [report] = of_type(bundle, "DiagnosticReport")
    [observation] = of_type(bundle, "Observation")
    [specimen] = of_type(bundle, "Specimen")
    assert of_type(bundle, "Group") == []
    assert "parent" not in specimen
    assert codes(observation["code"]) == ["94500-6"]
    assert codes(observation["valueCodeableConcept"]) == ["260415000"]
    assert observation["status"] == report["status"] == "final"
    assert report["result"] == [{"reference": f"Observation/{observation['id']}"}]
    assert report["subject"] == {"reference": f"Patient/{fhir.patient_id(c.negative.public_id)}"}
    assert report["specimen"] == [{"reference": f"Specimen/{specimen['id']}"}]
    [lab] = of_type(bundle, "Organization")
    assert (lab["name"], report["performer"]) == (
        "Lab A",
        [{"reference": f"Organization/{lab['id']}"}],
    )
    assert codes(report["conclusionCode"][0]) == ["negative"]
    assert specimen["collection"]["extension"][0]["valueString"] == "Điểm A, Phường Tân Ninh"
    assert codes(specimen["type"]) == ["258529004"]  # throat swab (FHIR_PCR_SWAB_SITE)


def test_individual_positive(world, c):
    bundle = bundle_of(world, c.positive)
    [observation] = of_type(bundle, "Observation")
    [report] = of_type(bundle, "DiagnosticReport")
    assert codes(observation["valueCodeableConcept"]) == ["260373001"]
    assert codes(report["conclusionCode"][0]) == ["positive"]
    assert report["conclusion"] == "Detected."


def test_a_negative_pool_is_one_pool_specimen_and_a_share_per_member(world, c):
    bundle = bundle_of(world, c.pool_negative[1])
    [group] = of_type(bundle, "Group")
    assert (group["type"], group["actual"], group["quantity"]) == ("person", True, 3)
    assert "member" not in group  # nobody's bundle names the other members
    pool, share = sorted(of_type(bundle, "Specimen"), key=lambda s: "parent" in s)
    assert pool["subject"] == {"reference": f"Group/{group['id']}"}
    assert pool["note"] == [{"text": "Pooled sample of 3 people."}]
    assert share["parent"] == [{"reference": f"Specimen/{pool['id']}"}]
    assert share["subject"]["reference"].startswith("Patient/")
    pool_obs, own = sorted(of_type(bundle, "Observation"), key=lambda o: "derivedFrom" in o)
    assert pool_obs["subject"] == {"reference": f"Group/{group['id']}"}
    assert pool_obs["specimen"] == {"reference": f"Specimen/{pool['id']}"}
    assert codes(pool_obs["valueCodeableConcept"]) == ["260415000"]
    assert own["derivedFrom"] == [{"reference": f"Observation/{pool_obs['id']}"}]
    assert codes(own["valueCodeableConcept"]) == ["260415000"]
    assert codes(own["interpretation"][0]) == ["negative"]
    [report] = of_type(bundle, "DiagnosticReport")
    assert report["result"] == [
        {"reference": f"Observation/{pool_obs['id']}"},
        {"reference": f"Observation/{own['id']}"},
    ]
    # The pool's resources are the same for every member.
    other = bundle_of(world, c.pool_negative[2])
    assert of_type(other, "Group") == [group]
    assert pool in of_type(other, "Specimen")


def test_a_positive_pool_recalls_each_member(world, c):
    bundle = bundle_of(world, c.pool_positive[1])
    pool_obs, own = sorted(of_type(bundle, "Observation"), key=lambda o: "derivedFrom" in o)
    assert codes(pool_obs["valueCodeableConcept"]) == ["260373001"]
    assert "valueCodeableConcept" not in own  # the pool's result is not theirs
    assert codes(own["interpretation"][0]) == ["recall"]
    [report] = of_type(bundle, "DiagnosticReport")
    assert codes(report["conclusionCode"][0]) == ["recall"]
    assert report["conclusion"] == (
        "The pooled sample was positive: an individual sample is needed (recall)."
    )


def test_the_recalled_member_individual_retest_positive(world, c):
    bundle = bundle_of(world, c.pool_positive[0])
    reports = of_type(bundle, "DiagnosticReport")
    assert sorted(codes(r["conclusionCode"][0])[0] for r in reports) == ["positive", "recall"]
    [retest] = [r for r in reports if codes(r["conclusionCode"][0]) == ["positive"]]
    specimen = by_ref(bundle, retest["specimen"][0]["reference"])
    assert "parent" not in specimen
    assert specimen["note"] == [{"text": "Individual sample taken after a positive pool (recall)."}]
    [result] = retest["result"]
    assert codes(by_ref(bundle, result["reference"])["valueCodeableConcept"]) == ["260373001"]


def test_a_corrected_result(world, c):
    bundle = bundle_of(world, c.corrected)
    [report] = of_type(bundle, "DiagnosticReport")
    [observation] = of_type(bundle, "Observation")
    assert report["status"] == observation["status"] == "corrected"
    assert codes(observation["valueCodeableConcept"]) == ["260373001"]
    assert observation["note"] == [{"text": "Corrected: Nhầm giếng"}]


def test_a_correction_that_keeps_the_value_is_amended(world, c):
    [row] = queries.person_reports(world.users["admin"], c.corrected)
    same = dataclasses.replace(row, amended_value="positive")
    assert fhir.status(same) == "amended"
    assert fhir.diagnostic_report(same)["status"] == "amended"
    assert fhir.status(dataclasses.replace(row, amended_value=None)) == "final"


def test_a_rejected_tube_has_no_observation_and_a_cancelled_report(world, c):
    bundle = bundle_of(world, c.rejected[0])
    assert of_type(bundle, "Observation") == []
    [report] = of_type(bundle, "DiagnosticReport")
    assert report["status"] == "cancelled"
    assert "result" not in report
    assert codes(report["conclusionCode"][0]) == ["recollect"]
    assert report["conclusion"] == (
        "No valid result: a new sample is needed. Rejected by the laboratory: Leaked"
    )
    assert {s["status"] for s in of_type(bundle, "Specimen")} == {"unsatisfactory"}
    assert [o["name"] for o in of_type(bundle, "Organization")] == ["Lab A"]


def test_an_invalid_result_is_absent_data_and_recollect(world):
    who = cases.person(world)
    released(world, "invalid", [who], kind="individual")
    bundle = bundle_of(world, who)
    validate_r4b(bundle)
    [observation] = of_type(bundle, "Observation")
    assert "valueCodeableConcept" not in observation
    assert codes(observation["dataAbsentReason"]) == ["error"]
    assert codes(observation["interpretation"][0]) == ["recollect"]


def test_ct_values_become_components(world):
    who = cases.person(world)
    result = released(world, "positive", [who], kind="individual")
    type(result).objects.filter(pk=result.pk).update(ct_values={"E": 24.5, "N": None})
    bundle = bundle_of(world, who)
    [observation] = of_type(bundle, "Observation")
    assert observation["component"] == [
        {"code": {"text": "Ct E"}, "valueQuantity": {"value": 24.5, "unit": "cycles"}}
    ]
    validate_r4b(bundle)


def test_loinc_by_method_then_by_campaign_test_type(world, c):
    [row] = queries.person_reports(world.users["admin"], c.negative)
    assert fhir.test_code(row)[0] == "94500-6"
    assert fhir.test_code(dataclasses.replace(row, method="Rapid antigen (Panbio)"))[0] == "94558-4"
    assert (
        fhir.test_code(dataclasses.replace(row, method="Test nhanh kháng nguyên"))[0] == "94558-4"
    )
    antigen = dataclasses.replace(row, test_type=CampaignTestType.RAPID_ANTIGEN)
    assert fhir.test_code(antigen)[0] == "94558-4"
    assert fhir.test_code(dataclasses.replace(antigen, method="RT-PCR"))[0] == "94500-6"
    assert codes(fhir.person_specimen(antigen)["type"]) == ["258500001"]  # nasopharyngeal
    validate_r4b(fhir.diagnostic_report(antigen))


def test_ids_are_stable_and_opaque(world, c):
    first = bundle_of(world, c.pool_positive[0])
    again = bundle_of(world, c.pool_positive[0])
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in again["entry"]]
    for entry in first["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] not in ("Patient", "Organization"):
            assert len(resource["id"]) == 36  # a UUID, no database key
        assert "_" not in resource["id"]
