"""Rules for the fields that identify a person: name, phone, CCCD, date of birth.

Each `clean_*` function takes what a person, a volunteer's spreadsheet or a card
reader gave us and returns the stored form, or raises `ValidationError` with a
translated message. They are idempotent and blind to Unicode normal forms.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.core.text import fold, normalize_text

# Province codes used in the first three digits of a CCCD (Circular 07/2016/TT-BCA).
CCCD_PROVINCES = frozenset(
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 "
    "034 035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 "
    "067 068 070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096".split()
)
# Mobile prefixes after the trunk 0, since the 2018 renumbering.
MOBILE_PREFIXES = frozenset(
    "32 33 34 35 36 37 38 39 52 55 56 58 59 70 76 77 78 79 81 82 83 84 85 86 87 88 89 "
    "90 91 92 93 94 96 97 98 99".split()
)
EARLIEST_BIRTH_YEAR = 1900
MAX_NAME_LENGTH = 100
_NAME_ALLOWED = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?$")
_NUMERIC_FLOAT = re.compile(r"^\d+\.0+$")
# Each part of a word capitalised: "h'hen niê" -> "H'Hen Niê", "y-ngông" -> "Y-Ngông".
_CAPITALISE = re.compile(r"[^\W\d_]+")


def _digits_from_cell(value: object) -> str:
    """Text of digits from a cell that Excel may have turned into a number (912345678.0)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    if _NUMERIC_FLOAT.match(text):
        text = text.split(".")[0]
    return text


def clean_name(value: object) -> str:
    """NFC, single spaces, each word capitalised ("NGUYỄN văn  a" -> "Nguyễn Văn A")."""
    text = normalize_text(str(value or ""))
    if not text:
        raise ValidationError(_("Enter the full name."), code="required")
    if len(text) > MAX_NAME_LENGTH:
        raise ValidationError(_("The name is longer than 100 characters."), code="too_long")
    if not _NAME_ALLOWED.match(text):
        raise ValidationError(_("A name may contain only letters and spaces."), code="invalid")
    return capitalise_name(text)


def capitalise_name(text: str) -> str:
    """Each part of each word capitalised, then NFC (the last step of clean_name)."""
    return unicodedata.normalize(
        "NFC", _CAPITALISE.sub(lambda m: m[0][:1].upper() + m[0][1:].lower(), text)
    )


def clean_phone(value: object, *, required: bool = False) -> str:
    """A Vietnamese mobile number in E.164 ("0912 345 678" -> "+84912345678"); "" if empty."""
    text = _digits_from_cell(value or "")
    if not text:
        if required:
            raise ValidationError(_("Enter a phone number."), code="required")
        return ""
    digits = re.sub(r"[\s.\-()]", "", text)
    if digits.startswith("+"):
        digits = digits[1:]
        if not digits.startswith("84"):
            raise ValidationError(_("Only Vietnamese mobile numbers are accepted."), code="foreign")
    if not digits.isdigit():
        raise ValidationError(_("A phone number has only digits."), code="invalid")
    if digits.startswith("84") and len(digits) == 11:
        national = digits[2:]
    elif digits.startswith("0") and len(digits) == 10:
        national = digits[1:]
    elif len(digits) == 9:  # the leading 0 lost in a spreadsheet
        national = digits
    else:
        raise ValidationError(_("A mobile number has 10 digits, e.g. 0912 345 678."), code="length")
    if national[:2] not in MOBILE_PREFIXES:
        raise ValidationError(_("This is not a Vietnamese mobile number."), code="prefix")
    return "+84" + national


def clean_cccd(value: object, *, required: bool = False) -> str | None:
    """A 12-digit citizen ID (CCCD) with a valid province prefix; None if empty."""
    text = re.sub(r"\s", "", _digits_from_cell(value or ""))
    if not text:
        if required:
            raise ValidationError(_("Enter the CCCD number."), code="required")
        return None
    if not text.isdigit():
        raise ValidationError(_("A CCCD has only digits."), code="invalid")
    if len(text) in (10, 11):  # leading zeros lost in a spreadsheet: every CCCD starts with 0
        text = text.zfill(12)
    if len(text) != 12:
        raise ValidationError(_("A CCCD has exactly 12 digits."), code="length")
    if text[:3] not in CCCD_PROVINCES:
        raise ValidationError(
            _("The first three digits of this CCCD are not a province code."), code="province"
        )
    if text[3] not in "0123":
        raise ValidationError(_("The fourth digit of a CCCD must be 0, 1, 2 or 3."), code="century")
    return text


def clean_email(value: object) -> str:
    """An e-mail address, trimmed, its domain lower-cased; "" if empty."""
    from django.core.validators import validate_email

    text = str(value or "").strip()
    if not text:
        return ""
    if len(text) > 254:
        raise ValidationError(_("An e-mail address has at most 254 characters."), code="length")
    try:
        validate_email(text)
    except ValidationError:
        raise ValidationError(
            _("Enter an e-mail address like name@example.com."), code="invalid"
        ) from None
    local, _at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def cccd_birth_year_matches(cccd: str, birth_year: int) -> bool:
    """Digits 4-6 of a CCCD encode the century (with sex) and the last two digits of the year."""
    century = 1900 + 100 * (int(cccd[3]) // 2)
    return century + int(cccd[4:6]) == birth_year


def clean_birth(value: object, *, today: dt.date | None = None) -> tuple[dt.date | None, int]:
    """(date or None, year) from "15/08/1961", "1961-08-15", "1961", an Excel serial or a date."""
    today = today or timezone.localdate()
    birth_date: dt.date | None
    if isinstance(value, dt.datetime):
        birth_date = value.date()
    elif isinstance(value, dt.date):
        birth_date = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = int(value)
        if EARLIEST_BIRTH_YEAR <= number <= today.year:
            return None, _check_year(number, today)
        birth_date = _from_excel_serial(number)
    else:
        birth_date, year = _parse_birth_text(str(value or "").strip(), today)
        if birth_date is None:
            return None, _check_year(year, today)
    if birth_date > today:
        raise ValidationError(_("The date of birth is in the future."), code="future")
    return birth_date, _check_year(birth_date.year, today)


def _parse_birth_text(text: str, today: dt.date) -> tuple[dt.date | None, int]:
    if not text:
        raise ValidationError(_("Enter the date or year of birth."), code="required")
    if re.fullmatch(r"\d{4}", text):
        return None, int(text)
    if re.fullmatch(r"\d{4,5}(\.0+)?", text):
        return _from_excel_serial(int(float(text))), 0
    for pattern in ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%d/%m/%y"):
        try:
            parsed = dt.datetime.strptime(text.split(" ")[0], pattern).date()  # noqa: DTZ007
        except ValueError:
            continue
        if pattern == "%d/%m/%y" and parsed > today:
            parsed = parsed.replace(year=parsed.year - 100)
        return parsed, parsed.year
    raise ValidationError(
        _("Write the date of birth as dd/mm/yyyy, or the year alone."), code="format"
    )


def _from_excel_serial(serial: int) -> dt.date:
    if not 1 <= serial <= 80000:
        raise ValidationError(
            _("Write the date of birth as dd/mm/yyyy, or the year alone."), code="format"
        )
    return dt.date(1899, 12, 30) + dt.timedelta(days=serial)


def _check_year(year: int, today: dt.date) -> int:
    if not EARLIEST_BIRTH_YEAR <= year <= today.year:
        raise ValidationError(
            _("The year of birth must be between %(first)s and %(last)s."),
            code="year",
            params={"first": EARLIEST_BIRTH_YEAR, "last": today.year},
        )
    return year


def identity_key(
    *,
    full_name: str,
    birth_date: dt.date | None,
    birth_year: int,
    phone: str,
    ward_id: int,
    household_key: str,
) -> str:
    """The duplicate rule as one string (unique in the database).

    Same folded name + birth date (or year) + phone is the same person. Without a
    phone, the ward and household stand in, so re-importing a list never doubles it.
    """
    born = birth_date.isoformat() if birth_date else str(birth_year)
    if phone:
        return f"p|{fold(full_name)}|{born}|{phone}"
    return f"w|{fold(full_name)}|{born}|{ward_id}|{household_key}"[:220]
