"""Tube label codes in bulk, and the sticker sheets they are printed on.

Sheet: A4 label stock with 4 × 10 labels of 52.5 × 29.7 mm (the common "A4/40"
stock, no margins). Each label carries the code three times: a QR (phones), a
Code128 (USB scanners; 12 digits encode in Code128's numeric set C, 101 modules
at 0.3 mm) and the human-readable code in groups of four. Both symbols keep their
quiet zones (4 modules for the QR, 10 for Code128) inside the label.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from swabline.people.documents import FONT, FONT_BOLD, LabelStock, draw_qr, register_fonts
from swabline.sampling.codes import format_tube_code, new_tube_code

if TYPE_CHECKING:
    from swabline.sampling.models import LabelBatch

TUBE_LABELS_A4_40 = LabelStock(
    columns=4, rows=10, label_width=52.5 * mm, label_height=29.7 * mm, top=0.0
)
BAR_WIDTH = 0.3 * mm
BAR_HEIGHT = 7 * mm
QR_BOX = 18.5 * mm  # symbol and quiet zone: a version 1 QR, 0.64 mm per module


def new_codes(count: int) -> list[str]:
    """`count` distinct new random codes (unique among themselves; the database
    decides whether they are new)."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(new_tube_code())
    return sorted(codes)


def label_sheet_pdf(batch: LabelBatch, *, stock: LabelStock = TUBE_LABELS_A4_40) -> bytes:
    """Sticker sheets with every label of `batch`, in code order."""
    codes = list(batch.labels.order_by("code").values_list("code", flat=True))
    subtitle = batch.site.name if batch.site else batch.campaign.name
    return sheet_pdf(
        codes, title=f"{batch.campaign.name} — #{batch.pk}", subtitle=subtitle, stock=stock
    )


def sheet_pdf(
    codes: Sequence[str], *, title: str, subtitle: str = "", stock: LabelStock = TUBE_LABELS_A4_40
) -> bytes:
    """Sticker sheets for `codes`, `stock.per_page` a page."""
    register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=stock.page_size, pageCompression=1)
    canvas.setTitle(title)
    canvas.setAuthor("Swabline")
    canvas.setCreator("Swabline")
    page_height = stock.page_size[1]
    pages = max(1, -(-len(codes) // stock.per_page))
    for page in range(pages):
        chunk = codes[page * stock.per_page : (page + 1) * stock.per_page]
        for index, code in enumerate(chunk):
            row, column = divmod(index, stock.columns)
            x = stock.left + column * stock.label_width
            y = page_height - stock.top - (row + 1) * stock.label_height
            _draw_label(canvas, code, subtitle, x, y, stock.label_width, stock.label_height)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_label(
    canvas: Canvas, code: str, subtitle: str, x: float, y: float, width: float, height: float
) -> None:
    top = y + height - 1.2 * mm
    draw_qr(canvas, code, x=x + 1.5 * mm, y=top - QR_BOX, size=QR_BOX)
    left = x + 1.5 * mm + QR_BOX + 0.5 * mm
    text_width = x + width - 2.5 * mm - left
    canvas.setFillGray(0)
    size = 9.0
    human = format_tube_code(code)
    while size > 5 and pdfmetrics.stringWidth(human, FONT_BOLD, size) > text_width:
        size -= 0.5
    canvas.setFont(FONT_BOLD, size)
    canvas.drawString(left, top - 6 * mm, human)
    canvas.setFont(FONT, 6)
    canvas.drawString(left, top - 10 * mm, _fit(subtitle, FONT, 6, text_width))

    barcode = Code128(
        code, barWidth=BAR_WIDTH, barHeight=BAR_HEIGHT, lquiet=10 * BAR_WIDTH, rquiet=10 * BAR_WIDTH
    )
    barcode.drawOn(canvas, x + (width - barcode.width) / 2, y + 1.5 * mm)


def _fit(text: str, font: str, size: float, width: float) -> str:
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"
