"""The person QR: what it says, how it is checked, and how it is drawn.

Payload (DESIGN §5), upper case, only QR alphanumeric-mode characters::

    SW1:<TOKEN>:<HINT>:<C>
    SW1:G4Q7ZK2M5XWUAJ3C6NVPEYRHLA:NTBN1961:T

- ``SW`` is the prefix, ``1`` the payload version. A scan starting with ``SW`` and a
  digit is ours (the person-code alphabet has no ``S`` and a CCCD starts with a digit,
  so scan boxes can route on the first characters).
- ``TOKEN`` is ``Person.qr_token``: 26 base32 characters (A-Z, 2-7), 128 random bits.
  It identifies; it never grants access to a result on its own.
- ``HINT`` is the display hint for offline stations: up to 4 initials of the name
  folded to A-Z (family name, then the last three words when the name is longer, so
  the given name always shows), followed by the 4-digit birth year. Names without a
  Latin letter give no initials, only the year.
- ``C`` is a check character over ``SW1`` + token + hint (separators excluded),
  ISO/IEC 7064 MOD 37-2 (pure system; the check character is 0-9, A-Z or "*",
  all QR alphanumeric): since 37 is prime it catches every single substituted
  character and every swap of two neighbours. (The hybrid MOD 37,36 misses some
  swaps; a property test found one.)

At most 41 characters: QR version 3 at error correction M (segno raises the level to
Q when it fits in the same version, so printed stickers get the extra margin).

``decode_payload`` returns ``None`` for text that is not ours (try the CCCD parser or
the human code next) and raises ``QrError`` for text that is ours but malformed,
altered, or typed through a Vietnamese input method by a keyboard-wedge scanner.

Always build symbols with ``segno.make_qr``: ``segno.make`` silently makes a Micro QR
for short data, which phones cannot read (TRAPS).
"""

from __future__ import annotations

import io
import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import segno
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from swabline.core.text import fold

if TYPE_CHECKING:
    from swabline.people.models import Person

PREFIX = "SW"
VERSION = 1
HEADER = f"{PREFIX}{VERSION}"
MAX_INITIALS = 4
QUIET_ZONE = 4  # modules of white around the symbol, as ISO/IEC 18004 requires
ERROR_LEVEL = "m"
MIN_YEAR, MAX_YEAR = 1890, 2100  # as the Person model's check constraint

_CHECK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
_MODULUS = len(_CHECK_ALPHABET)  # 37
# The covered characters' values ("*" and separators are not covered).
_CHECK_VALUES = {ch: i for i, ch in enumerate(_CHECK_ALPHABET) if ch != "*"}
_TOKEN = r"[A-Z2-7]{26}"  # noqa: S105 (a pattern, not a secret)
_PAYLOAD = re.compile(
    rf"^{HEADER}:(?P<token>{_TOKEN}):(?P<initials>[A-Z]{{0,{MAX_INITIALS}}})"
    r"(?P<year>[0-9]{4}):(?P<check>[0-9A-Z*])"
)
_OURS = re.compile(rf"^{PREFIX}(?P<version>[0-9]+)")
# What a keyboard-wedge scanner types for "SW1:" with Telex input on ("SƯ1:").
_MANGLED = re.compile(r"^S[UW]1:")
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060\x00"))


class QrError(ValidationError):
    """A scan that claims to be a Swabline QR but cannot be trusted; `code` names why."""


@dataclass(frozen=True, slots=True)
class PersonQR:
    token: str
    initials: str
    birth_year: int

    @property
    def hint(self) -> str:
        """What an offline station shows for the scan: "NTBN 1961"."""
        return f"{self.initials} {self.birth_year}".strip()


def initials_for(full_name: str) -> str:
    """Up to four A-Z initials: "Nguyễn Thị Bích Ngọc" -> "NTBN", "Đỗ Văn Đức" -> "DVD"."""
    letters = [word[0].upper() for word in fold(full_name).split(" ") if word]
    letters = [ch for ch in letters if "A" <= ch <= "Z"]
    if len(letters) > MAX_INITIALS:
        letters = [letters[0], *letters[-(MAX_INITIALS - 1) :]]
    return "".join(letters)


def check_char(body: str) -> str:
    """ISO/IEC 7064 MOD 37-2 check character over the 0-9 A-Z characters of `body`.

    The standard's loop, p = (p + value) * 2 mod 37 per character, is the sum of
    each value times 2^(characters left, itself included) mod 37: one weighted sum
    over precomputed weights (a batch sync checks hundreds of scans)."""
    values = [v for v in map(_CHECK_VALUES.get, body) if v is not None]
    product = sum(map(operator.mul, values, _weights(len(values)))) % _MODULUS
    return _CHECK_ALPHABET[(_MODULUS + 1 - product) % _MODULUS]


_WEIGHTS: dict[int, tuple[int, ...]] = {}


def _weights(length: int) -> tuple[int, ...]:
    """2^length, …, 2^1 mod 37: the weight of each covered character, first to last."""
    weights = _WEIGHTS.get(length)
    if weights is None:
        weights = tuple(pow(2, length - i, _MODULUS) for i in range(length))
        if length <= 128:  # payloads are ~35; never grow without bound
            _WEIGHTS[length] = weights
    return weights


def build_payload(token: str, full_name: str, birth_year: int) -> str:
    """The payload for a token, a name and a birth year."""
    token = token.strip().upper()
    if not re.fullmatch(_TOKEN, token):
        raise ValueError(f"not a 26-character base32 QR token: {token!r}")
    if not MIN_YEAR <= birth_year <= MAX_YEAR:
        raise ValueError(f"implausible birth year: {birth_year}")
    hint = f"{initials_for(full_name)}{birth_year:04d}"
    return f"{HEADER}:{token}:{hint}:{check_char(HEADER + token + hint)}"


def encode_payload(person: Person) -> str:
    """The payload printed on `person`'s card and stickers."""
    return build_payload(person.qr_token, person.full_name, person.birth_year)


def is_person_qr(text: str) -> bool:
    """Whether a scan claims to be ours (so it must decode, or be reported as broken)."""
    return bool(_OURS.match(text.translate(_INVISIBLE).strip().upper()))


def decode_payload(text: str) -> PersonQR | None:
    """The token and hint in a scanned payload.

    None when the text is not a Swabline QR at all; `QrError` when it is one but is
    malformed, altered, from a newer version, or mangled by a Vietnamese input method.
    White space around it and lower case (keyboard-wedge scanners) are accepted.
    """
    match = _PAYLOAD.fullmatch(text)
    if match is not None:  # as printed: nothing to clean (the usual scan)
        return _checked(match)
    cleaned = text.translate(_INVISIBLE).strip().upper()
    ours = _OURS.match(cleaned)
    if not cleaned.isascii() and (ours or _MANGLED.match(fold(cleaned).upper())):
        # Telex turns "W" into "Ư" and "AS" into "Á"; VNI turns "A1" into "Á".
        raise QrError(
            _(
                "The scanner typed this code through Vietnamese input (Telex or VNI). "
                "Turn Vietnamese typing off on this computer and scan again."
            ),
            code="keyboard",
        )
    if not ours:
        return None
    if ours["version"] != str(VERSION):
        raise QrError(
            _("This QR code was made by a newer version of Swabline. Update this device."),
            code="version",
        )
    match = _PAYLOAD.fullmatch(cleaned)
    if match is None:
        raise QrError(_("This is not a complete Swabline QR code. Scan it again."), code="format")
    return _checked(match)


def _checked(match: re.Match[str]) -> PersonQR:
    """The payload `_PAYLOAD` matched, once its check character and year hold."""
    token, initials, year = match["token"], match["initials"], match["year"]
    if check_char(HEADER + token + initials + year) != match["check"]:
        raise QrError(
            _("This QR code is damaged or was altered (its check character is wrong)."),
            code="check",
        )
    if not MIN_YEAR <= int(year) <= MAX_YEAR:
        raise QrError(_("This is not a complete Swabline QR code. Scan it again."), code="format")
    return PersonQR(token=token, initials=initials, birth_year=int(year))


def make_symbol(payload: str) -> segno.QRCode:
    """The QR symbol for a payload: never Micro QR, at least error correction M."""
    return segno.make_qr(payload, error=ERROR_LEVEL)


def qr_svg(payload: str, *, scale: float = 4) -> str:
    """An inline SVG element (no XML declaration) with a 4-module quiet zone."""
    return str(make_symbol(payload).svg_inline(scale=scale, border=QUIET_ZONE))


def qr_png(payload: str, *, scale: int = 8) -> bytes:
    """A PNG with a 4-module quiet zone; `scale` pixels per module."""
    buffer = io.BytesIO()
    make_symbol(payload).save(buffer, kind="png", scale=scale, border=QUIET_ZONE)
    return buffer.getvalue()
