"""The recall list as an XLSX that opens cleanly in Excel (the house rules of
`swabline.people.exports`: translated headers, phones as text, formula injection
neutralised — a string starting with = + - @ is a text cell, never a formula)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from swabline.people.exports import BinarySink, display_phone, is_dangerous
from swabline.results.models import Outcome

CHUNK_SIZE = 2000
FIELDS = (
    "person__full_name",
    "person__birth_year",
    "person__phone",
    "person__address",
    "person__ward__name",
    "tube__code",
    "release__released_at",
    "resampled",
)
HEADERS = (
    _("Full name"),
    _("Year of birth"),
    _("Phone number"),
    _("Address"),
    _("Ward"),
    _("Pool tube"),
    _("Released at"),
    _("Resampled"),
)
WIDTHS = (28, 10, 15, 40, 24, 16, 18, 12)
TEXT_COLUMNS = frozenset({2, 5})  # phone, tube code: text even when all digits
DATE_COLUMN = 6


def export_recall_xlsx(rows: QuerySet[Outcome], stream: BinarySink) -> int:
    """Write the recall list `rows` (from `queries.recall_list`) to `stream` as XLSX;
    the row count. One query, streamed, no model instances."""
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "Swabline"
    sheet: WriteOnlyWorksheet = workbook.create_sheet(str(_("Recall list")))
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
    for row in _rows(rows):
        sheet.append([_cell(sheet, index, value) for index, value in enumerate(row)])
        count += 1
    workbook.save(stream)
    return count


def _rows(rows: QuerySet[Outcome]) -> Iterator[tuple[Any, ...]]:
    yes, no = str(_("Yes")), str(_("No"))
    for name, year, phone, address, ward, tube, released_at, resampled in rows.values_list(
        *FIELDS
    ).iterator(chunk_size=CHUNK_SIZE):
        when = timezone.localtime(released_at).replace(tzinfo=None) if released_at else None
        yield (
            name,
            year,
            display_phone(phone) if phone else None,
            address,
            ward,
            tube,
            when,
            yes if resampled else no,
        )


def _cell(sheet: WriteOnlyWorksheet, column: int, value: Any) -> Any:
    if column == DATE_COLUMN:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "DD/MM/YYYY HH:MM"
        return cell
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    dangerous = isinstance(value, str) and is_dangerous(value)
    if column not in TEXT_COLUMNS and not dangerous:
        return value
    cell = WriteOnlyCell(sheet, value=value)
    if column in TEXT_COLUMNS:
        cell.number_format = "@"
    if dangerous:
        cell.data_type = "s"  # never a formula
        cell.quotePrefix = True
    return cell
