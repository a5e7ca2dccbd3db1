"""Identifiers printed for people: the QR token and the short human code.

The human code uses 23 characters with no look-alike pairs (no 0/O, 1/I/L, 2/Z,
5/S, G, B, U/V), 7 random characters and a check character, shown as "XXXX-XXXX".
23 is prime, so the weighted check catches every single wrong character and every
swap of neighbours. It identifies; it never grants access to a result on its own.
"""

from __future__ import annotations

import base64
import secrets

CODE_ALPHABET = "346789ACDEFHJKMNPQRTWXY"
CODE_RANDOM_LENGTH = 7


def new_qr_token() -> str:
    """128 random bits as 26 upper-case base32 characters (QR alphanumeric mode)."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")


def code_check_char(body: str) -> str:
    """A weighted-sum check character: catches any single substitution and most swaps."""
    n = len(CODE_ALPHABET)
    total = sum((i + 1) * CODE_ALPHABET.index(ch) for i, ch in enumerate(body))
    return CODE_ALPHABET[total % n]


def new_person_code() -> str:
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_RANDOM_LENGTH))
    return body + code_check_char(body)


def normalize_person_code(text: str) -> str | None:
    """The stored form of a typed code ("k7m2-p9qx " -> "K7M2P9QX"), or None if invalid."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -.")
    if len(cleaned) != CODE_RANDOM_LENGTH + 1 or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    if code_check_char(cleaned[:-1]) != cleaned[-1]:
        return None
    return cleaned


def format_person_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"
