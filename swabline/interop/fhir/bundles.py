"""Bundles and OperationOutcomes."""

from __future__ import annotations

from swabline.interop.fhir.codes import Resource


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
