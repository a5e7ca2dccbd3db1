"""People lists as spreadsheets that open cleanly in Excel: XLSX, and CSV for machines.

Both stream: one query (``values_list`` with the ward joined, read through
``.iterator(chunk_size=2000)``), no model instances, no query per row; the XLSX
is written in openpyxl's write-only mode.

Rules for cells (DESIGN §8, TRAPS "Data"):

- Headers are translated (Vietnamese by default: Họ và tên, Ngày sinh, Năm sinh,
  Giới tính, Số điện thoại, CCCD, Phường/xã, Địa chỉ, Mã hộ, Mã cá nhân).
- Formula injection: text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
  return is never a formula. In XLSX it is written as a string cell (``t="inlineStr"``,
  never ``<f>``) with Excel's quote prefix, so editing the cell keeps it text; in CSV
  it gets a leading ``'``.
- Phone numbers are written the Vietnamese way, ``0912 345 678``: text in both
  formats (Excel keeps the leading zero, and the spaces keep a CSV from turning it into
  a number); the CCCD is 12 digits of text, in a text-formatted (``@``) XLSX cell. In
  CSV, Excel may still read a CCCD as a number and drop its leading zero; our importer
  restores it (``identity.clean_cccd``), and the XLSX is the format for people.
- Dates of birth are real dates in XLSX, shown ``dd/mm/yyyy``; ``dd/mm/yyyy`` text in CSV.
- CSV is UTF-8 with a byte-order mark (so Excel reads the diacritics), comma-separated,
  minimal quoting, CRLF line ends (RFC 4180).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from swabline.people.codes import format_person_code
from swabline.people.enums import Sex

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from swabline.people.models import Person

CHUNK_SIZE = 2000
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DATE_FORMAT_XLSX = "DD/MM/YYYY"
DATE_FORMAT_CSV = "%d/%m/%Y"
TEXT_FORMAT = "@"

FIELDS = (
    "full_name",
    "birth_date",
    "birth_year",
    "sex",
    "phone",
    "national_id",
    "ward__name",
    "address",
    "household_key",
    "code",
)
HEADERS = (
    _("Full name"),
    _("Date of birth"),
    _("Year of birth"),
    _("Sex"),
    _("Phone number"),
    _("CCCD"),
    _("Ward"),
    _("Address"),
    _("Household code"),
    _("Personal code"),
)
WIDTHS = (28, 12, 10, 10, 15, 15, 24, 40, 18, 12)
TEXT_COLUMNS = frozenset({4, 5})  # phone, CCCD: text even when all digits
DATE_COLUMN = 1


class TextSink(Protocol):
    """Where CSV goes: a text file opened with ``newline=""``, or an `HttpResponse`."""

    def write(self, text: str, /) -> object: ...


class BinarySink(Protocol):
    """Where XLSX goes: a binary file, a `BytesIO`, or an `HttpResponse`."""

    def write(self, data: bytes, /) -> object: ...


_E164_VN = re.compile(r"^\+84(\d{9})$")


def is_dangerous(value: str) -> bool:
    """Whether a spreadsheet could read `value` as a formula (or hide one after a tab)."""
    return value.startswith(DANGEROUS_PREFIXES)


def neutralise_csv(value: str) -> str:
    """`value`, with a leading ``'`` if a spreadsheet could take it for a formula."""
    return "'" + value if is_dangerous(value) else value


def display_phone(phone: str) -> str:
    """The way people write a Vietnamese mobile: "+84912345678" -> "0912 345 678".

    Anything that is not such a number comes back unchanged.
    """
    match = _E164_VN.match(phone)
    if match is None:
        return phone
    national = match[1]
    return f"0{national[:3]} {national[3:6]} {national[6:]}"


def export_people_xlsx(queryset: QuerySet[Person], stream: BinarySink) -> int:
    """Write the people of `queryset` (in its order) as an XLSX to `stream`; the row count."""
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "Swabline"
    sheet: WriteOnlyWorksheet = workbook.create_sheet(str(_("People")))
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in HEADERS:
        cell = WriteOnlyCell(sheet, value=str(title))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in _rows(queryset):
        sheet.append([_xlsx_cell(sheet, index, value) for index, value in enumerate(row)])
        count += 1
    workbook.save(stream)
    return count


def export_people_csv(queryset: QuerySet[Person], stream: TextSink) -> int:
    """Write the people of `queryset` as CSV to a text `stream`; the row count.

    Open files with ``encoding="utf-8", newline=""``; an `HttpResponse` works as is.
    """
    stream.write("\ufeff")
    writer = csv.writer(stream, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([str(title) for title in HEADERS])
    count = 0
    for row in _rows(queryset):
        writer.writerow([_csv_text(value) for value in row])
        count += 1
    return count


def _rows(queryset: QuerySet[Person]) -> Iterator[tuple[Any, ...]]:
    """One tuple of display values per person: no model instances, one query."""
    sexes = {value: str(label) for value, label in Sex.choices}
    rows = queryset.values_list(*FIELDS).iterator(chunk_size=CHUNK_SIZE)
    for name, born, year, sex, phone, cccd, ward, address, household, code in rows:
        yield (
            name,
            born,
            year,
            sexes.get(sex, sex),
            display_phone(phone) if phone else None,
            cccd or None,
            ward,
            address,
            household,
            format_person_code(code),
        )


def _xlsx_cell(sheet: WriteOnlyWorksheet, column: int, value: Any) -> Any:
    if column == DATE_COLUMN:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT_XLSX
        return cell
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    dangerous = isinstance(value, str) and is_dangerous(value)
    if column not in TEXT_COLUMNS and not dangerous:
        return value
    cell = WriteOnlyCell(sheet, value=value)
    if column in TEXT_COLUMNS:
        cell.number_format = TEXT_FORMAT
    if dangerous:
        cell.data_type = "s"  # openpyxl made "=…" a formula when the value was set
        cell.quotePrefix = True  # and editing it in Excel keeps it text
    return cell


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime(DATE_FORMAT_CSV)
    return neutralise_csv(str(value))
