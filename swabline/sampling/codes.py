"""Tube label codes and the short display name a station shows.

Generated tube codes are 12 digits: 11 random digits, the first never 0, then a
Damm check digit. Digits only, because a USB scanner types into whatever input
method is on, and Vietnamese Telex/VNI rewrite letters (TRAPS). The Damm check
catches every single-digit error and every swap of two neighbouring digits (Luhn
misses 09↔90). The first digit is never 0, so a tube code is never confused with
a CCCD number (12 digits that always start with 0) nor loses a digit in Excel.

Supplier labels keep their own format; a campaign accepts them when they match its
configured pattern (`SamplingSettings.label_pattern`).
"""

from __future__ import annotations

import re
import secrets
import unicodedata

BODY_LENGTH = 11
CODE_LENGTH = BODY_LENGTH + 1
MAX_CODE_LENGTH = 40

# The Damm quasigroup of order 10 (weakly totally anti-symmetric).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060\x00\r\n\t"))
_OURS = re.compile(rf"^[1-9]\d{{{CODE_LENGTH - 1}}}$")


def damm_digit(digits: str) -> str:
    """The Damm check digit for a string of digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return str(interim)


def is_valid_damm(code: str) -> bool:
    """Whether the last digit of `code` is the Damm check digit of the rest."""
    return code.isdigit() and damm_digit(code) == "0"


def new_tube_code() -> str:
    """A random generated tube code (12 digits, Damm-checked, first digit 1-9)."""
    body = str(secrets.randbelow(9 * 10 ** (BODY_LENGTH - 1)) + 10 ** (BODY_LENGTH - 1))
    return body + damm_digit(body)


def normalize_tube_code(text: str) -> str:
    """What a scanner or a thumb typed, as stored: invisible characters and spaces
    dropped, letters upper-cased ("  1234 5678 9012\\n" -> "123456789012")."""
    return "".join(text.translate(_INVISIBLE).split()).upper()[: MAX_CODE_LENGTH + 1]


def looks_generated(code: str) -> bool:
    """Whether `code` has the shape of one of our generated codes (the check aside)."""
    return bool(_OURS.match(code))


def format_tube_code(code: str) -> str:
    """Generated codes in groups of four for people to read ("1234 5678 9012")."""
    if looks_generated(code):
        return " ".join(code[i : i + 4] for i in range(0, len(code), 4))
    return code


def display_name(full_name: str) -> str:
    """Family name in full, then the initials of the rest: "Nguyễn T. B. N."."""
    if not unicodedata.is_normalized("NFC", full_name):  # stored names already are
        full_name = unicodedata.normalize("NFC", full_name)
    words = full_name.split()
    if len(words) <= 1:
        return words[0] if words else ""
    return " ".join([words[0], *(f"{word[:1].upper()}." for word in words[1:])])
