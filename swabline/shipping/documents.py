"""A shipment's manifest (phiếu giao nhận mẫu): the PDF that travels in the box, and
an XLSX for the lab's own systems.

Both hold what the lab needs to check the box and nothing more: per tube its code
(the PDF also as a Code128 barcode, 0.3 mm modules with 10-module quiet zones, as on
the tube labels, so the lab can scan the sheet when a label is damaged), its kind,
its people count, and its people by name and year of birth; the site, campaign,
lab, times and courier; signature lines for the hand-over and the receipt. No
phones, CCCD numbers or addresses.
"""

from __future__ import annotations

import io
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from swabline.people.documents import FONT, FONT_BOLD, register_fonts
from swabline.people.exports import BinarySink, is_dangerous
from swabline.sampling.codes import format_tube_code
from swabline.sampling.enums import TubeKind
from swabline.shipping.models import Shipment
from swabline.shipping.queries import ManifestTube, manifest

MARGIN = 15 * mm
BAR_WIDTH = 0.3 * mm
BAR_HEIGHT = 9 * mm
CODE_COLUMN = 52 * mm
COUNT_COLUMN = 14 * mm
LEADING = 3.6 * mm
SIGNATURE_BLOCK = 42 * mm


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%d/%m/%Y %H:%M") if value else "—"


def short_id(shipment: Shipment) -> str:
    """What people read and say aloud: the first 8 characters of the public id."""
    return str(shipment.public_id)[:8].upper()


def facts(shipment: Shipment) -> list[tuple[str, str]]:
    """The manifest's header, label → value, in the active language."""
    return [
        (_("Shipment"), short_id(shipment)),
        (_("Campaign"), shipment.campaign.name),
        (_("Site"), f"{shipment.site.name} — {shipment.site.ward.name}"),
        (_("Lab"), shipment.lab.name),
        (_("Created"), _when(shipment.created_at)),
        (_("Handed over"), _when(shipment.handed_over_at)),
        (pgettext("person who carries the box", "Courier"), shipment.courier_name or "—"),
        (_("Received"), _when(shipment.received_at)),
    ]


def manifest_pdf(shipment: Shipment) -> bytes:
    """The A4 manifest of `shipment`: header, one row per tube, signature lines."""
    register_fonts()
    tubes = manifest(shipment)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(_("Shipment manifest %(id)s") % {"id": short_id(shipment)})
    canvas.setAuthor("Swabline")
    canvas.setCreator("Swabline")
    width, height = A4
    page = 1
    y = _header(canvas, shipment, tubes, height)
    for item in tubes:
        lines = _people_lines(item, width - 2 * MARGIN - CODE_COLUMN - COUNT_COLUMN - 4 * mm)
        row = max(BAR_HEIGHT + 9 * mm, len(lines) * LEADING + 5 * mm)
        if y - row < MARGIN + 8 * mm:
            _footer(canvas, shipment, page, width)
            canvas.showPage()
            page += 1
            y = _column_titles(canvas, height - MARGIN)
        _tube_row(canvas, item, lines, y, row, width)
        y -= row
    if y - SIGNATURE_BLOCK < MARGIN + 8 * mm:
        _footer(canvas, shipment, page, width)
        canvas.showPage()
        page += 1
        y = height - MARGIN
    _signatures(canvas, y - 6 * mm, width)
    _footer(canvas, shipment, page, width)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _header(canvas: Canvas, shipment: Shipment, tubes: list[ManifestTube], height: float) -> float:
    y = height - MARGIN
    canvas.setFillGray(0)
    canvas.setFont(FONT_BOLD, 15)
    canvas.drawString(MARGIN, y - 5 * mm, _("Shipment manifest"))
    y -= 12 * mm
    people = sum(t.member_count for t in tubes)
    rows = [
        *facts(shipment),
        (_("Tubes / people"), f"{len(tubes)} / {people}"),
    ]
    for label, value in rows:
        canvas.setFont(FONT, 9)
        canvas.drawString(MARGIN, y, label)
        canvas.setFont(FONT_BOLD, 9)
        canvas.drawString(MARGIN + 35 * mm, y, value[:110])
        y -= 4.8 * mm
    return _column_titles(canvas, y - 3 * mm)


def _column_titles(canvas: Canvas, y: float) -> float:
    canvas.setFont(FONT_BOLD, 8.5)
    canvas.drawString(MARGIN, y - 4 * mm, _("Tube"))
    canvas.drawString(MARGIN + CODE_COLUMN, y - 4 * mm, pgettext("how many", "People"))
    canvas.drawString(MARGIN + CODE_COLUMN + COUNT_COLUMN, y - 4 * mm, _("Name (year of birth)"))
    canvas.setLineWidth(0.6)
    canvas.line(MARGIN, y - 6 * mm, A4[0] - MARGIN, y - 6 * mm)
    return y - 6 * mm


def _people_lines(item: ManifestTube, width: float) -> list[str]:
    text = "; ".join(f"{position}. {name} ({year})" for position, (name, year) in
                     enumerate(item.people, start=1))  # fmt: skip
    return simpleSplit(text, FONT, 8.5, width) or ["—"]


def _tube_row(
    canvas: Canvas, item: ManifestTube, lines: list[str], y: float, row: float, width: float
) -> None:
    barcode = Code128(
        item.code,
        barWidth=BAR_WIDTH,
        barHeight=BAR_HEIGHT,
        lquiet=10 * BAR_WIDTH,
        rquiet=10 * BAR_WIDTH,
    )
    barcode.drawOn(canvas, MARGIN - 10 * BAR_WIDTH, y - 2 * mm - BAR_HEIGHT)
    canvas.setFont(FONT_BOLD, 9)
    canvas.drawString(MARGIN, y - BAR_HEIGHT - 6 * mm, format_tube_code(item.code))
    canvas.setFont(FONT, 8.5)
    kind = _("pool") if item.kind == TubeKind.POOL else _("individual")
    canvas.drawString(MARGIN + CODE_COLUMN, y - 5 * mm, str(item.member_count))
    canvas.drawString(MARGIN + CODE_COLUMN, y - 9 * mm, kind)
    left = MARGIN + CODE_COLUMN + COUNT_COLUMN
    for index, line in enumerate(lines):
        canvas.drawString(left, y - 5 * mm - index * LEADING, line)
    canvas.setLineWidth(0.25)
    canvas.setStrokeGray(0.6)
    canvas.line(MARGIN, y - row, width - MARGIN, y - row)
    canvas.setStrokeGray(0)


def _signatures(canvas: Canvas, y: float, width: float) -> None:
    column = (width - 2 * MARGIN) / 3
    titles = (
        _("Handed over by (site)"),
        pgettext("person who carries the box", "Courier"),
        _("Received by (lab)"),
    )
    for index, title in enumerate(titles):
        x = MARGIN + index * column
        canvas.setFont(FONT_BOLD, 9)
        canvas.drawString(x, y, title)
        canvas.setFont(FONT, 8)
        for offset, label in ((10, _("Name")), (20, _("Signature")), (30, _("Date and time"))):
            canvas.drawString(x, y - offset * mm, label)
            canvas.setLineWidth(0.4)
            canvas.line(x + 22 * mm, y - offset * mm, x + column - 4 * mm, y - offset * mm)


def _footer(canvas: Canvas, shipment: Shipment, page: int, width: float) -> None:
    canvas.setFont(FONT, 7.5)
    canvas.drawString(MARGIN, 9 * mm, f"Swabline · {short_id(shipment)}")
    canvas.drawRightString(width - MARGIN, 9 * mm, _("Page %(n)d") % {"n": page})


# --- XLSX ---------------------------------------------------------------------------------

WIDTHS = (16, 12, 10, 8, 32, 12)


def manifest_xlsx(shipment: Shipment, stream: BinarySink) -> int:
    """The manifest as a spreadsheet: the header facts, then one row per person
    (tube code as text, kind, people in the tube, position, name, year of birth; an
    empty tube gets one row). Written in write-only mode; text that a spreadsheet
    could take for a formula stays text. Returns the number of tubes."""
    tubes = manifest(shipment)
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "Swabline"
    sheet = workbook.create_sheet(_("Manifest")[:31])
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    for label, value in facts(shipment):
        sheet.append([_bold(sheet, label, bold), _text(sheet, value)])
    sheet.append([])
    titles = (
        _("Tube"),
        _("Kind"),
        pgettext("how many", "People"),
        _("Position"),
        _("Full name"),
        _("Year of birth"),
    )
    sheet.append([_bold(sheet, t, bold) for t in titles])
    for item in tubes:
        kind = _("pool") if item.kind == TubeKind.POOL else _("individual")
        people: list[tuple[str, int | None]] = list(item.people) or [("", None)]
        for position, (name, year) in enumerate(people, start=1):
            sheet.append([
                _text(sheet, item.code, force=True), kind, item.member_count,
                position if name else None, _text(sheet, name), year,
            ])  # fmt: skip
    workbook.save(stream)
    return len(tubes)


def _bold(sheet: Any, value: str, font: Font) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=str(value))
    cell.font = font
    return cell


def _text(sheet: Any, value: str, *, force: bool = False) -> Any:
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    dangerous = is_dangerous(value)
    if not (dangerous or force):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = "@"
    if dangerous:
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell
