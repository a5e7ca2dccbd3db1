"""Checks every FHIR output of ours goes through: the R4B models of the installed
fhir.resources (in process), and every reference resolving inside its Bundle."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class


def validate_r4b(resource: dict[str, Any]) -> None:
    """Raises if `resource` (a Bundle included) does not parse as FHIR R4B."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for value in node.values() for r in references(value)]
    if isinstance(node, list):
        return [r for value in node for r in references(value)]
    return []


def assert_references_resolve(bundle: dict[str, Any]) -> None:
    """Every relative reference names an entry, and every fullUrl ends with its
    resource's type and id."""
    ids = set()
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        key = f"{resource['resourceType']}/{resource['id']}"
        assert entry["fullUrl"].endswith("/" + key), entry["fullUrl"]
        ids.add(key)
    missing = {r for e in bundle.get("entry", []) for r in references(e["resource"])} - ids
    assert not missing, missing
