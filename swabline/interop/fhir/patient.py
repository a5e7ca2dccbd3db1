"""Patient (Vietnamese names, year-only births, two-level addresses) and the lab."""

from __future__ import annotations

from typing import Any

from swabline.interop.fhir.codes import (
    GENDER,
    V2_0203,
    VN_ADMIN_UNITS,
    VN_NATIONAL_ID,
    Resource,
    coding,
    concept,
    patient_id,
    system,
)
from swabline.interop.fhir.rows import LabData, PatientData


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
