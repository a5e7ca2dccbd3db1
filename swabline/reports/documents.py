"""The documents officials send upward or hand to contact tracers: the daily report
(XLSX and an A4 landscape PDF, one row per ward and a total) and the positive list
(XLSX). Spreadsheets follow the house rules of `swabline.people.exports`:
translated headers, codes and phones as text, and any text a spreadsheet could take
for a formula (= + - @ …) written as a text cell, never a formula. Totals are
values, not formulas, so every cell reads the same in any program.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from swabline.people.documents import FONT, FONT_BOLD, register_fonts
from swabline.people.exports import BinarySink, display_phone, is_dangerous
from swabline.reports.queries import DailyReport, Figures
from swabline.results.models import Outcome
from swabline.sampling.enums import TubeStatus


def _status_reader(status: str) -> Any:
    return lambda f: f.tubes[status]


# (header, how to read it from a Figures): the daily report's columns after the ward.
COLUMNS: tuple[tuple[Any, Any], ...] = (
    (gettext_lazy("Target population"), lambda f: f.target),
    (gettext_lazy("Registered"), lambda f: f.registered),
    (gettext_lazy("People sampled"), lambda f: f.sampled_people),
    (gettext_lazy("Coverage of target"), lambda f: f.coverage),
    (gettext_lazy("Tubes sampled"), lambda f: f.sampled_tubes),
    *((label, _status_reader(value)) for value, label in TubeStatus.choices),
    (gettext_lazy("Positive pools"), lambda f: f.positive_pools),
    (gettext_lazy("Positive people"), lambda f: f.positive_people),
    (gettext_lazy("Recall pending"), lambda f: f.recall_pending),
    (gettext_lazy("Recollect pending"), lambda f: f.recollect_pending),
    (gettext_lazy("Sampled that day"), lambda f: f.sampled_on_day),
    (gettext_lazy("Tubes released that day"), lambda f: f.released_on_day),
)
COVERAGE_COLUMN = 3  # index in COLUMNS


def headers() -> list[str]:
    return [_("Ward"), *(str(label) for label, _read in COLUMNS)]


def values(figures: Figures) -> list[Any]:
    return [read(figures) for _label, read in COLUMNS]


def facts(report: DailyReport) -> list[tuple[str, str]]:
    scope = report.scope
    return [
        (_("Campaign"), scope.campaign.name),
        (_("Place"), scope.place.name),
        (_("Day"), report.day.strftime("%d/%m/%Y")),
        (_("Generated at"), timezone.localtime().strftime("%d/%m/%Y %H:%M")),
    ]


def _text(sheet: WriteOnlyWorksheet, value: Any, *, bold: bool = False, text: bool = False) -> Any:
    """A cell that is never a formula; `text` keeps digits as text (codes, phones)."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = WriteOnlyCell(sheet, value=value)
    if bold:
        cell.font = Font(bold=True)
    if isinstance(value, str) and is_dangerous(value):
        cell.data_type = "s"
        cell.quotePrefix = True
    if text:
        cell.number_format = "@"
    return cell


def daily_xlsx(report: DailyReport, stream: BinarySink) -> None:
    """The daily report as one sheet: the facts, a header row, a row per ward, the
    total."""
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "Swabline"
    sheet: WriteOnlyWorksheet = workbook.create_sheet(_("Daily report"))
    sheet.column_dimensions["A"].width = 30
    for index in range(2, len(COLUMNS) + 2):
        sheet.column_dimensions[get_column_letter(index)].width = 12
    sheet.append([_text(sheet, _("Daily report"), bold=True)])
    for label, value in facts(report):
        sheet.append([_text(sheet, label), _text(sheet, value, bold=True)])
    sheet.append([])
    sheet.append([_text(sheet, h, bold=True) for h in headers()])
    for ward, figures in report.rows:
        sheet.append(_row(sheet, ward.name, figures, bold=False))
    sheet.append(_row(sheet, _("Total"), report.total, bold=True))
    workbook.save(stream)


def _row(sheet: WriteOnlyWorksheet, name: str, figures: Figures, *, bold: bool) -> list[Any]:
    cells = [_text(sheet, name, bold=bold)]
    for index, value in enumerate(values(figures)):
        cell = WriteOnlyCell(sheet, value=value)
        if index == COVERAGE_COLUMN:
            cell.number_format = "0.0%"
        if bold:
            cell.font = Font(bold=True)
        cells.append(cell)
    return cells


# --- PDF ---------------------------------------------------------------------------

PAGE = landscape(A4)
MARGIN = 12 * mm
WARD_COLUMN = 46 * mm
ROW = 6 * mm
HEADER_FONT = 6.3


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def daily_pdf(report: DailyReport) -> bytes:
    """The daily report on A4 landscape pages: facts, a table of wards with a total
    row (repeated column titles on each page), page numbers."""
    register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=PAGE, pageCompression=1)
    canvas.setTitle(_("Daily report"))
    canvas.setAuthor("Swabline")
    canvas.setCreator("Swabline")
    width, height = PAGE
    column = (width - 2 * MARGIN - WARD_COLUMN) / len(COLUMNS)
    page = 1
    y = _pdf_header(canvas, report, height)
    y = _pdf_titles(canvas, y, column)
    rows = [(ward.name, figures, False) for ward, figures in report.rows]
    rows.append((_("Total"), report.total, True))
    for name, figures, bold in rows:
        if y - ROW < MARGIN + 8 * mm:
            _pdf_footer(canvas, report, page, width)
            canvas.showPage()
            page += 1
            y = _pdf_titles(canvas, height - MARGIN, column)
        _pdf_row(canvas, name, figures, y, column, bold=bold)
        y -= ROW
    _pdf_footer(canvas, report, page, width)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _pdf_header(canvas: Canvas, report: DailyReport, height: float) -> float:
    y = height - MARGIN
    canvas.setFont(FONT_BOLD, 14)
    canvas.drawString(MARGIN, y - 5 * mm, _("Daily report"))
    y -= 11 * mm
    for label, value in facts(report):
        canvas.setFont(FONT, 8.5)
        canvas.drawString(MARGIN, y, label)
        canvas.setFont(FONT_BOLD, 8.5)
        canvas.drawString(MARGIN + 30 * mm, y, value[:120])
        y -= 4.5 * mm
    return y - 2 * mm


def _pdf_titles(canvas: Canvas, y: float, column: float) -> float:
    lines_per_title = [
        simpleSplit(h, FONT_BOLD, HEADER_FONT, column - 1.5 * mm) for h in headers()[1:]
    ]
    depth = max(len(lines) for lines in lines_per_title) * 2.6 * mm + 2 * mm
    canvas.setFont(FONT_BOLD, 7.5)
    canvas.drawString(MARGIN, y - 4 * mm, _("Ward"))
    canvas.setFont(FONT_BOLD, HEADER_FONT)
    for index, lines in enumerate(lines_per_title):
        x = MARGIN + WARD_COLUMN + (index + 1) * column - 1 * mm
        for offset, line in enumerate(lines):
            canvas.drawRightString(x, y - 3 * mm - offset * 2.6 * mm, line)
    canvas.setLineWidth(0.6)
    canvas.line(MARGIN, y - depth, PAGE[0] - MARGIN, y - depth)
    return y - depth


def _pdf_row(
    canvas: Canvas, name: str, figures: Figures, y: float, column: float, *, bold: bool
) -> None:
    font = FONT_BOLD if bold else FONT
    canvas.setFont(font, 7.5)
    label = simpleSplit(name, font, 7.5, WARD_COLUMN - 2 * mm) or [""]
    canvas.drawString(MARGIN, y - 4.2 * mm, label[0])
    for index, value in enumerate(values(figures)):
        # Thousands grouped with dots, as Vietnamese reports write them.
        text = percent(value) if index == COVERAGE_COLUMN else f"{value:,}".replace(",", ".")
        x = MARGIN + WARD_COLUMN + (index + 1) * column - 1 * mm
        canvas.drawRightString(x, y - 4.2 * mm, text)
    canvas.setLineWidth(0.25)
    canvas.setStrokeGray(0.6)
    canvas.line(MARGIN, y - ROW, PAGE[0] - MARGIN, y - ROW)
    canvas.setStrokeGray(0)


def _pdf_footer(canvas: Canvas, report: DailyReport, page: int, width: float) -> None:
    canvas.setFont(FONT, 7)
    canvas.drawString(MARGIN, 7 * mm, f"Swabline · {report.scope.campaign.name[:80]}")
    canvas.drawRightString(width - MARGIN, 7 * mm, _("Page %(n)d") % {"n": page})


# --- The positive list -------------------------------------------------------------

POSITIVE_HEADERS = (
    gettext_lazy("Full name"),
    gettext_lazy("Year of birth"),
    gettext_lazy("Phone number"),
    gettext_lazy("Address"),
    gettext_lazy("Ward"),
    gettext_lazy("Site"),
    gettext_lazy("Tube"),
    gettext_lazy("Lab"),
    gettext_lazy("Decided at"),
)
POSITIVE_WIDTHS = (28, 10, 15, 40, 24, 24, 16, 20, 18)
TEXT_COLUMNS = frozenset({2, 6})
DATE_COLUMN = 8


def positives_xlsx(rows: QuerySet[Outcome], stream: BinarySink) -> int:
    """People with a positive outcome (from `queries.positives`), one row each, for
    contact tracing; the row count. Streamed in chunks, one query."""
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "Swabline"
    sheet: WriteOnlyWorksheet = workbook.create_sheet(_("Positive people"))
    for index, width in enumerate(POSITIVE_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_text(sheet, str(h), bold=True) for h in POSITIVE_HEADERS])
    count = 0
    for row in _positive_rows(rows):
        cells = []
        for index, value in enumerate(row):
            if index == DATE_COLUMN:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "DD/MM/YYYY HH:MM"
                cells.append(cell)
            elif isinstance(value, str):
                cells.append(_text(sheet, value, text=index in TEXT_COLUMNS))
            else:
                cells.append(value)
        sheet.append(cells)
        count += 1
    workbook.save(stream)
    return count


def _positive_rows(rows: QuerySet[Outcome]) -> Iterator[tuple[Any, ...]]:
    fields = (
        "person__full_name",
        "person__birth_year",
        "person__phone",
        "person__address",
        "person__ward__name",
        "tube__site__name",
        "tube__code",
        "result__lab__name",
        "decided_at",
    )
    for name, year, phone, address, ward, site, tube, lab, decided in rows.values_list(
        *fields
    ).iterator(chunk_size=2000):
        yield (
            name,
            year,
            display_phone(phone) if phone else "",
            address,
            ward,
            site,
            tube,
            lab or "",
            timezone.localtime(decided).replace(tzinfo=None),
        )
