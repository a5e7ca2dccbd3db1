"""Code systems, identifier systems, stable ids and small builders."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation

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
