"""Text rules shared by every app: NFC storage and diacritic-free search keys."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# Letters that do not decompose into a base letter plus a combining mark.
_FOLD_EXTRA = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "ø": "o", "ł": "l"})


def normalize_text(value: str) -> str:
    """NFC, with runs of white space collapsed and the ends trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def fold(value: str) -> str:
    """Lower-case key without diacritics: "Nguyễn Thị Đào" -> "nguyen thi dao".

    Idempotent, and equal for NFC and NFD input, so it can be stored beside a
    name and compared with what a user types on a keyboard without Vietnamese input.
    """
    decomposed = unicodedata.normalize("NFD", value.translate(_FOLD_EXTRA))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.lower().translate(_FOLD_EXTRA)).strip()
