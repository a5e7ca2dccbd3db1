"""What a citizen types to look their result up: who (code, CCCD or phone) and the
date of birth, checked for form only (nothing here touches the database).

One box takes any of the three identifiers: 8 characters of the code alphabet is a
personal code (separators and case ignored), 12 digits a CCCD, anything else with
digits a Vietnamese phone in any usual form. A form error says what is wrong with
the *shape* of the input; it never depends on whether anyone has that identifier.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.people import identity
from swabline.people.codes import CODE_RANDOM_LENGTH, normalize_person_code

Kind = Literal["code", "cccd", "phone"]
_SEPARATORS = re.compile(r"[\s.\-()/_]")


@dataclass(frozen=True)
class Identifier:
    kind: Kind
    value: str  # the stored form: "K7M2P9QX", "079012345678", "+84912345678"

    def key(self, prefix: str) -> str:
        """A counter key for this identifier: an HMAC, never the identifier itself."""
        return counter_key(prefix, f"{self.kind}:{self.value}")


@dataclass(frozen=True)
class Birth:
    """A date of birth as typed: the full date, or the year alone."""

    year: int
    date: dt.date | None


@functools.lru_cache(maxsize=4)
def _keyed(secret: str) -> hmac.HMAC:
    """The HMAC with the key already absorbed; `counter_key` copies it (the same
    digest as a new HMAC, without hashing the key again on every try)."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def counter_key(prefix: str, text: str) -> str:
    mac = _keyed(settings.SECRET_KEY).copy()
    mac.update(f"swabline.lookup:{text}".encode())
    return f"{prefix}:{mac.hexdigest()[:40]}"


def parse_identifier(text: str) -> Identifier:
    """The identifier in `text`, or a translated ValidationError about its form."""
    compact = _SEPARATORS.sub("", text or "").upper()
    if not compact:
        raise ValidationError(
            _("Enter your personal code, CCCD number or phone number."), code="required"
        )
    if len(compact) == CODE_RANDOM_LENGTH + 1 and not compact.startswith("+"):
        code = normalize_person_code(compact)
        if code is None:
            raise ValidationError(
                _("This personal code is not valid: check each character."), code="code"
            )
        return Identifier("code", code)
    digits = compact.removeprefix("+")
    if not digits.isdigit():
        raise ValidationError(
            _("Enter the 8-character personal code, the 12-digit CCCD or a phone number."),
            code="invalid",
        )
    if len(compact) == 12 and compact.isdigit():
        cccd = identity.clean_cccd(compact)
        assert cccd is not None
        return Identifier("cccd", cccd)
    return Identifier("phone", identity.clean_phone(compact))


def parse_birth(day: int | None, month: int | None, year: int | None) -> Birth:
    """A date of birth from three numbers; day and month may both be left out."""
    today = timezone.localdate()
    if year is None:
        raise ValidationError(_("Enter the year of birth."), code="year_required")
    if not identity.EARLIEST_BIRTH_YEAR <= year <= today.year:
        raise ValidationError(
            _("The year of birth must be between %(first)s and %(last)s."),
            code="year",
            params={"first": identity.EARLIEST_BIRTH_YEAR, "last": today.year},
        )
    if day is None and month is None:
        return Birth(year, None)
    if day is None or month is None:
        raise ValidationError(
            _("Enter both the day and the month, or leave both empty."), code="partial"
        )
    try:
        date = dt.date(year, month, day)
    except ValueError as exc:
        raise ValidationError(_("This date does not exist."), code="date") from exc
    if date > today:
        raise ValidationError(_("The date of birth is in the future."), code="future")
    return Birth(year, date)
