"""`/api/v1/fhir`: Patient read, $everything and DiagnosticReport search, with role
and place checks; answers are application/fhir+json and parse as FHIR."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import translation

from swabline.audit.models import AuditEvent
from swabline.interop import fhir
from tests.interop import cases
from tests.interop.validation import assert_references_resolve, validate_r4b

pytestmark = pytest.mark.django_db

API = "/api/v1/fhir"


@pytest.fixture
def c(world):
    return cases.build(world)


def get(client: Any, user: Any, url: str) -> Any:
    with translation.override("en"):
        return client.get(url, **cases.token(user))


def body(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/fhir+json", response["Content-Type"]
    return json.loads(response.content)


def pid(person: Any) -> str:
    return fhir.patient_id(person.public_id)


def patients_in(bundle: dict[str, Any]) -> set[str]:
    return {
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] == "Patient"
    }


# --- Patient ----------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["admin", "province", "ward_a", "dataentry_a"])
def test_staff_with_export_data_read_a_patient_of_their_place(client, world, c, persona):
    response = get(client, world.users[persona], f"{API}/Patient/{pid(c.negative)}")
    assert response.status_code == 200
    patient = body(response)
    validate_r4b(patient)
    assert patient["id"] == pid(c.negative)
    assert (
        AuditEvent.objects.filter(action="fhir.patient_read", subject_id=str(c.negative.pk)).count()
        == 1
    )


def test_the_public_id_itself_is_accepted(client, world, c):
    response = get(client, world.users["admin"], f"{API}/Patient/{c.negative.public_id}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "persona", ["sampler_a", "labtech_a", "labsupervisor_a", "courier_a", "nobody"]
)
def test_wrong_roles_are_refused(client, world, c, persona):
    response = get(client, world.users[persona], f"{API}/Patient/{pid(c.negative)}")
    assert response.status_code == 403
    assert body(response)["resourceType"] == "OperationOutcome"
    for url in (
        f"{API}/Patient/{pid(c.negative)}/$everything",
        f"{API}/DiagnosticReport",
        f"{API}/$export",
    ):
        assert get(client, world.users[persona], url).status_code == 403, url


def test_wrong_place_is_not_found(client, world, c):
    response = get(client, world.users["ward_b"], f"{API}/Patient/{pid(c.negative)}")
    assert response.status_code == 404
    assert body(response)["issue"][0]["code"] == "not-found"
    unknown = get(client, world.users["ward_b"], f"{API}/Patient/nobody-has-this-id")
    assert (unknown.status_code, unknown.content) == (404, response.content)
    everything = get(client, world.users["ward_b"], f"{API}/Patient/{pid(c.negative)}/$everything")
    assert everything.status_code == 404


def test_a_partner_reads_only_people_who_consented(client, world, c):
    partner = cases.partner(world)
    assert get(client, partner, f"{API}/Patient/{pid(c.negative)}").status_code == 404
    cases.consent(c.negative, partner)
    assert get(client, partner, f"{API}/Patient/{pid(c.negative)}").status_code == 200
    assert get(client, partner, f"{API}/Patient/{pid(c.positive)}").status_code == 404
    other = cases.partner(world, "other-partner")
    assert get(client, other, f"{API}/Patient/{pid(c.negative)}").status_code == 404


def test_a_partner_of_one_place_does_not_see_consents_outside_it(client, world, c):
    partner = cases.partner(world, place=world.ward_b)
    cases.consent(c.negative, partner)  # ward A
    assert get(client, partner, f"{API}/Patient/{pid(c.negative)}").status_code == 404
    cases.consent(c.other_ward, partner)
    assert get(client, partner, f"{API}/Patient/{pid(c.other_ward)}").status_code == 200


def test_a_revoked_consent_stops_access(client, world, c):
    partner = cases.partner(world)
    consent = cases.consent(c.negative, partner)
    from django.utils import timezone

    type(consent).objects.filter(pk=consent.pk).update(revoked_at=timezone.now())
    assert get(client, partner, f"{API}/Patient/{pid(c.negative)}").status_code == 404


# --- $everything ------------------------------------------------------------------


def test_everything_is_a_searchset_of_the_persons_results(
    client, world, c, django_assert_max_num_queries
):
    headers = cases.token(world.users["ward_a"])  # issuing the token is not what is measured
    with django_assert_max_num_queries(12), translation.override("en"):
        response = client.get(f"{API}/Patient/{pid(c.pool_positive[0])}/$everything", **headers)
    assert response.status_code == 200
    bundle = body(response)
    validate_r4b(bundle)
    assert_references_resolve(bundle)
    assert bundle["type"] == "searchset"
    assert patients_in(bundle) == {pid(c.pool_positive[0])}
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types.count("DiagnosticReport") == 2
    assert all(e["fullUrl"].startswith("http://testserver/api/v1/fhir/") for e in bundle["entry"])
    event = AuditEvent.objects.get(action="fhir.results_read")
    assert (event.subject_id, event.data) == (str(c.pool_positive[0].pk), {"reports": 2})


def test_everything_for_a_person_without_results_is_just_the_patient(client, world):
    who = cases.person(world)
    bundle = body(get(client, world.users["admin"], f"{API}/Patient/{pid(who)}/$everything"))
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient"]


# --- DiagnosticReport search ------------------------------------------------------


def reports(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"]


def test_search_pages_with_next_links(client, world, c):
    url = f"{API}/DiagnosticReport?campaign={world.campaign.public_id}&_count=4"
    seen: list[str] = []
    pages = 0
    while url:
        bundle = body(get(client, world.users["admin"], url))
        validate_r4b(bundle)
        assert_references_resolve(bundle)
        assert {e["search"]["mode"] for e in reports(bundle)} == {"match"}
        assert {e["search"]["mode"] for e in bundle["entry"] if e not in reports(bundle)} <= {
            "include"
        }
        seen += [e["resource"]["id"] for e in reports(bundle)]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        url = links.get("next", "").removeprefix("http://testserver")
        pages += 1
    # 6 individual (one corrected) + pools of 3 and 3 + the retest + 2 rejected = 15
    assert bundle["total"] == len(seen) == len(set(seen)) == 15
    assert pages == 4


def test_search_is_scoped_to_the_place(client, world, c):
    def people(user: str) -> set[str]:
        return patients_in(
            body(get(client, world.users[user], f"{API}/DiagnosticReport?_count=500"))
        )

    ward_a = people("ward_a")
    assert pid(c.negative) in ward_a
    assert pid(c.other_ward) not in ward_a and pid(c.other_province) not in ward_a
    assert people("ward_b") == {pid(c.other_ward)}
    province = people("province")
    assert pid(c.other_ward) in province and pid(c.other_province) not in province
    assert pid(c.other_province) in people("admin")


def test_search_for_a_partner_holds_only_consented_people(client, world, c):
    partner = cases.partner(world)
    empty = body(get(client, partner, f"{API}/DiagnosticReport"))
    assert (empty["total"], empty["entry"]) == (0, [])
    cases.consent(c.pool_positive[0], partner)
    bundle = body(get(client, partner, f"{API}/DiagnosticReport"))
    assert bundle["total"] == 2
    assert patients_in(bundle) == {pid(c.pool_positive[0])}


def test_search_by_issued_and_patient(client, world, c):
    admin = world.users["admin"]
    future = body(get(client, admin, f"{API}/DiagnosticReport?issued=ge2999-01-01"))
    assert future["total"] == 0
    past = body(
        get(client, admin, f"{API}/DiagnosticReport?issued=ge2000-01-01&issued=le2999-12-31")
    )
    assert past["total"] == 15
    mine = body(get(client, admin, f"{API}/DiagnosticReport?patient=Patient/{pid(c.corrected)}"))
    assert mine["total"] == 1
    unknown = body(
        get(client, admin, f"{API}/DiagnosticReport?campaign=00000000-0000-0000-0000-000000000000")
    )
    assert unknown["total"] == 0


@pytest.mark.parametrize(
    "query", ["_count=0", "_count=x", "issued=ge2026-13-45", "campaign=not-a-uuid", "page=-1"]
)
def test_bad_search_parameters_are_an_operation_outcome(client, world, query):
    response = get(client, world.users["admin"], f"{API}/DiagnosticReport?{query}")
    assert response.status_code == 400
    outcome = body(response)
    validate_r4b(outcome)
    assert outcome["issue"][0]["code"] == "invalid"


def test_search_costs_the_same_queries_whatever_the_page_size(
    client, world, c, django_assert_max_num_queries
):
    """Token and grants (3, the token's first use of the minute included), the count,
    the page, the audit event: nothing per row."""
    headers = cases.token(world.users["admin"])
    with django_assert_max_num_queries(7):
        small = client.get(f"{API}/DiagnosticReport?_count=2", **headers)
    with django_assert_max_num_queries(7):
        large = client.get(f"{API}/DiagnosticReport?_count=100", **headers)
    assert len(reports(body(small))) == 2 and len(reports(body(large))) == 15
