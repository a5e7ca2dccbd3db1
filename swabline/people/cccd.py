"""The QR printed on the chip citizen ID card (CCCD / căn cước), read at every scan box.

The card's QR holds one line of fields separated by ``|``::

    ID|oldID|name|DOBddmmyyyy|sex|address|issueddmmyyyy
    079061012345||Nguyễn Văn A|15081961|Nam|12 Lê Lợi, Phường Bến Nghé, TP.HCM|20042021

``oldID`` (the 9- or 12-digit CMND number) is empty on most cards issued from 2021 on;
some readers leave its slot out and give six fields, some end the line with a ``|``.
The address and the issue date may be empty too; the ID, the name, the date of birth
and the sex may not. The name
and the sex come in either Unicode normal form (iOS readers give NFD), sometimes
without accents ("Nu"), and cheap USB readers sometimes turn the UTF-8 bytes into
mojibake ("Nguyá»…n"), which is repaired when it decodes cleanly.

`parse_cccd` returns a `CccdCard` or raises `CccdError` (a `ValidationError` whose
`code` names the problem: ``empty``, ``fields``, ``national_id``, ``name``,
``birth_date``, ``birth_year``, ``sex``, ``issued_on``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.core.text import fold, normalize_text
from swabline.people import identity
from swabline.people.enums import Sex

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as StrOrPromise

SEPARATOR = "|"
_SEXES = {"nam": Sex.MALE, "nu": Sex.FEMALE}
_LOOKS_LIKE = re.compile(r"^\d{12}\|")
_DATE_SEPARATORS = re.compile(r"[\s/.\-]")
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060\x00"))
_MOJIBAKE_HINTS = ("Ã", "Ä", "Å", "Æ", "á»", "áº")


class CccdError(ValidationError):
    """A CCCD QR that cannot be used; `code` names the field at fault."""


@dataclass(frozen=True, slots=True)
class CccdCard:
    national_id: str
    old_id: str
    full_name: str
    birth_date: dt.date
    sex: Sex
    address: str
    issued_on: dt.date | None

    @property
    def birth_year(self) -> int:
        return self.birth_date.year


def looks_like_cccd(text: str) -> bool:
    """Whether a scan is (meant to be) a CCCD QR: 12 digits, then ``|``.

    A scan box routes such text to `parse_cccd` (even when broken, so the person
    at the station gets the reason), a ``SW…`` text to the person QR, and anything
    else to the typed human code.
    """
    return bool(_LOOKS_LIKE.match(_clean(text)))


def parse_cccd(text: str, *, today: dt.date | None = None) -> CccdCard:
    """The fields of a CCCD QR, cleaned by the same rules as every other entry path."""
    today = today or timezone.localdate()
    cleaned = _clean(text)
    if not cleaned:
        raise CccdError(_("The scanned text is empty."), code="empty")
    fields = [normalize_text(field) for field in cleaned.split(SEPARATOR)]
    while len(fields) > 7 and not fields[-1]:
        fields.pop()  # a trailing "|" from some readers
    if len(fields) == 6:
        fields.insert(1, "")
    if len(fields) != 7:
        raise CccdError(
            _(
                "This is not a CCCD QR code: it has %(count)s fields separated by “|”, "
                "a CCCD has 7."
            ),
            code="fields",
            params={"count": len(fields)},
        )
    raw_id, old_id, raw_name, raw_dob, raw_sex, address, raw_issued = fields

    try:
        national_id = identity.clean_cccd(raw_id, required=True)
    except ValidationError as exc:
        raise _wrap(
            exc, _("The ID number on the card is not valid. %(reason)s"), "national_id"
        ) from exc
    assert national_id is not None  # required=True

    try:
        full_name = identity.clean_name(raw_name)
    except ValidationError as exc:
        raise _wrap(exc, _("The name on the card is not valid. %(reason)s"), "name") from exc

    birth_date = _date(raw_dob)
    if birth_date is None:
        raise CccdError(
            _("The date of birth on the card (%(value)s) is not a valid date (ddmmyyyy)."),
            code="birth_date",
            params={"value": raw_dob or "—"},
        )
    if birth_date.year < identity.EARLIEST_BIRTH_YEAR or birth_date > today:
        raise CccdError(
            _("The date of birth on the card (%(value)s) is not possible."),
            code="birth_date",
            params={"value": f"{birth_date:%d/%m/%Y}"},
        )
    if not identity.cccd_birth_year_matches(national_id, birth_date.year):
        raise CccdError(
            _(
                "The date of birth (%(date)s) does not match the ID number, whose "
                "digits 4 to 6 give the year of birth."
            ),
            code="birth_year",
            params={"date": f"{birth_date:%d/%m/%Y}"},
        )

    sex = _SEXES.get(fold(raw_sex))
    if sex is None:
        raise CccdError(
            _("The sex on the card (%(value)s) is neither “Nam” nor “Nữ”."),
            code="sex",
            params={"value": raw_sex or "—"},
        )

    issued_on: dt.date | None = None
    if raw_issued:
        issued_on = _date(raw_issued)
        if issued_on is None or not birth_date <= issued_on <= today + dt.timedelta(days=1):
            raise CccdError(
                _("The issue date on the card (%(value)s) is not a possible date."),
                code="issued_on",
                params={"value": raw_issued},
            )

    return CccdCard(
        national_id=national_id,
        old_id=old_id.replace(" ", ""),
        full_name=full_name,
        birth_date=birth_date,
        sex=sex,
        address=address,
        issued_on=issued_on,
    )


def format_cccd(card: CccdCard) -> str:
    """The QR text a card with these fields carries (for demo data and tests)."""
    issued = f"{card.issued_on:%d%m%Y}" if card.issued_on else ""
    sex = {Sex.MALE: "Nam", Sex.FEMALE: "Nữ"}[card.sex]  # a card knows no other
    return SEPARATOR.join(
        [
            card.national_id,
            card.old_id,
            card.full_name,
            f"{card.birth_date:%d%m%Y}",
            sex,
            card.address,
            issued,
        ]
    )


def _clean(text: str) -> str:
    """NFC, invisible characters dropped, mojibake repaired, ends trimmed."""
    text = text.translate(_INVISIBLE)
    if any(hint in text for hint in _MOJIBAKE_HINTS):
        text = _undo_mojibake(text) or text
    return unicodedata.normalize("NFC", text).strip()


def _undo_mojibake(text: str) -> str | None:
    """UTF-8 bytes that a reader decoded as Windows-1252 (or Latin-1), decoded again.

    None unless the whole text turns back into valid UTF-8, which real Vietnamese
    text never does by accident.
    """
    raw = bytearray()
    for ch in text:
        try:
            raw += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:
                return None
            raw.append(ord(ch))  # a byte cp1252 leaves undefined, kept as a C1 control
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _date(value: str) -> dt.date | None:
    digits = _DATE_SEPARATORS.sub("", value)
    if not re.fullmatch(r"\d{8}", digits):
        return None
    try:
        return dt.date(int(digits[4:]), int(digits[2:4]), int(digits[:2]))
    except ValueError:
        return None


def _wrap(exc: ValidationError, message: StrOrPromise, code: str) -> CccdError:
    """A field's own error inside a sentence that says which field of the card it is."""
    inner = exc.error_list[0]
    # Kept lazy when it can be, so the message follows the language active when shown.
    reason = inner.message % inner.params if inner.params else inner.message
    return CccdError(message, code=code, params={"reason": reason})
