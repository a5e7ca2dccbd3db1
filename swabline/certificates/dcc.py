"""The DCC payload of a test certificate: names, birth date, test entry, UVCI.

Pure functions, no database: `services.issue` feeds them a decided outcome.
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from swabline.certificates.enums import (
    DCC_VERSION,
    RESULT_DETECTED,
    RESULT_NOT_DETECTED,
    TARGET_COVID19,
    TYPE_NAAT,
    TYPE_RAT,
)

# ICAO 9303 part 3 transliterations that are more than "drop the diacritic".
# Vietnamese needs only Đ→D (every other letter is a Latin letter plus marks).
_ICAO_SPECIAL = {
    "Đ": "D",
    "Ð": "D",
    "Ä": "AE",
    "Ö": "OE",
    "Ü": "UE",
    "ß": "SS",
    "Æ": "AE",
    "Ø": "OE",
    "Å": "AA",
    "Þ": "TH",
    "Œ": "OE",
    "Ĳ": "IJ",
}
UVCI_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ/:"
# Opaque part: no letters that read alike (0/O, 1/I/L, 2/Z, 5/S, 8/B).
_OPAQUE = "34679ACDEFGHJKMNPQRTUVWXY"
MAX_NAME = 80


def icao(name: str) -> str:
    """ICAO 9303 machine-readable form: A-Z, and "<" for every space or hyphen."""
    upper = unicodedata.normalize("NFC", name).upper()
    out = []
    for char in upper:
        if char in _ICAO_SPECIAL:
            out.append(_ICAO_SPECIAL[char])
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)
        )
        if base.isascii() and base.isalpha():
            out.append(base)
        elif char in " -'" or char.isspace():
            out.append("<")
    text = "".join(out)
    while "<<" in text:
        text = text.replace("<<", "<")
    return text.strip("<")[:MAX_NAME]


@dataclass(frozen=True)
class Name:
    family: str
    given: str


def split_name(full_name: str) -> Name:
    """Vietnamese order: the family name first, the rest is the given name."""
    words = unicodedata.normalize("NFC", full_name).split()
    if not words:
        return Name("", "")
    return Name(words[0], " ".join(words[1:]))


def name_entry(full_name: str) -> dict[str, str]:
    name = split_name(full_name)
    entry = {"fn": name.family[:MAX_NAME], "fnt": icao(name.family)}
    if name.given:
        entry |= {"gn": name.given[:MAX_NAME], "gnt": icao(name.given)}
    return entry


def birth_date(date: dt.date | None, year: int | None) -> str:
    """YYYY-MM-DD, or YYYY when only the year is known (the schema allows both)."""
    if date is not None:
        return date.isoformat()
    return f"{year:04d}" if year else ""


def checksum(text: str) -> str:
    """Luhn mod N (ISO/IEC 7812-1 generalised) over the UVCI alphabet."""
    n = len(UVCI_ALPHABET)
    factor, total = 2, 0
    for char in reversed(text):
        addend = factor * UVCI_ALPHABET.index(char)
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return UVCI_ALPHABET[(n - total % n) % n]


def new_uvci(country: str = "VN", issuer_code: str = "SWL") -> str:
    """URN:UVCI:01:VN:SWL/<16 opaque characters>#<check character>.

    The check character covers everything after "URN:UVCI:" (the version, country
    and identifier), as the eHN UVCI guidelines' Luhn mod N over the code alphabet.
    """
    opaque = "".join(secrets.choice(_OPAQUE) for _ in range(16))
    body = f"01:{country}:{issuer_code}/{opaque}"
    return f"URN:UVCI:{body}#{checksum(body)}"


def uvci_is_well_formed(uvci: str) -> bool:
    head, _, check = uvci.partition("#")
    if not head.startswith("URN:UVCI:") or len(check) != 1:
        return False
    body = head[len("URN:UVCI:") :]
    return all(c in UVCI_ALPHABET for c in body) and checksum(body) == check


@dataclass(frozen=True)
class TestFacts:
    """What a certificate says about one test."""

    positive: bool
    rapid_antigen: bool
    sampled_at: dt.datetime
    centre: str
    device: str = ""


def test_entry(facts: TestFacts, *, uvci: str, issuer: str, country: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "tg": TARGET_COVID19,
        "tt": TYPE_RAT if facts.rapid_antigen else TYPE_NAAT,
        "sc": facts.sampled_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tr": RESULT_DETECTED if facts.positive else RESULT_NOT_DETECTED,
        "tc": facts.centre[:50],
        "co": country,
        "is": issuer[:80],
        "ci": uvci,
    }
    if facts.rapid_antigen:
        entry["ma"] = facts.device
    return entry


def payload(
    *,
    full_name: str,
    date_of_birth: str,
    facts: TestFacts,
    uvci: str,
    issuer: str,
    country: str,
) -> dict[str, Any]:
    return {
        "ver": DCC_VERSION,
        "nam": name_entry(full_name),
        "dob": date_of_birth,
        "t": [test_entry(facts, uvci=uvci, issuer=issuer, country=country)],
    }
