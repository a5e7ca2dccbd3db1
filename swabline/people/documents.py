"""Printable PDFs for people: a wallet card, and A4 sheets of QR stickers.

Text is set in the vendored DejaVu Sans (embedded, subset), which has every
Vietnamese letter; the PDF carries the real Unicode text, so it can be searched
and copied. QR symbols are drawn as vectors from the segno matrix (one filled
path per symbol, in module units), with a 4-module white quiet zone that no
other mark enters.

Layouts (all sizes in millimetres):

- Card: ID-1 size (85.6 × 54, the size of the CCCD, fits the same wallet slot):
  QR on the left, name, year of birth and the human code on the right, and the
  bilingual reminder along the bottom.
- Sticker sheet: A4 label stock with 3 × 8 labels of 70 × 35 (24 a page, 8.5 mm
  top and bottom margins, no side margins: Avery/Herma "70 × 35" stock). The title
  (e.g. the ward) and "page n of m" run in the top margin. Each label: QR on the
  left (22 mm symbol for a version 3 code), name, year of birth and code.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.translation import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from swabline.people import qr
from swabline.people.codes import format_person_code

if TYPE_CHECKING:
    from swabline.people.models import Person

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
CARD_SIZE = (85.6 * mm, 54 * mm)
# Fixed wording, deliberately in both languages whatever the interface language is.
CARD_REMINDER = "Mang thẻ này khi đi lấy mẫu / Bring this card to sampling"


@dataclass(frozen=True, slots=True)
class LabelStock:
    """A sheet of labels: page size, grid, label size and the sheet's margins."""

    columns: int = 3
    rows: int = 8
    label_width: float = 70 * mm
    label_height: float = 35 * mm
    left: float = 0.0
    top: float = 8.5 * mm
    page_size: tuple[float, float] = A4

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


STICKERS_70X35 = LabelStock()


@cache
def register_fonts() -> None:
    """Register DejaVu Sans (regular and bold) with reportlab once per process."""
    folder = settings.BASE_DIR / "static" / "vendor" / "fonts"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "DejaVuSans-Bold.ttf")))


def person_card_pdf(person: Person) -> bytes:
    """One wallet card (ID-1 size page) for `person`."""
    register_fonts()
    buffer = io.BytesIO()
    width, height = CARD_SIZE
    canvas = _canvas(buffer, CARD_SIZE, title=person.full_name)

    canvas.setStrokeGray(0.75)
    canvas.setLineWidth(0.3)
    canvas.roundRect(0.5 * mm, 0.5 * mm, width - 1 * mm, height - 1 * mm, 3 * mm)  # cut line

    box = 36 * mm  # the QR with its quiet zone
    draw_qr(canvas, qr.encode_payload(person), x=1.5 * mm, y=height - 1.5 * mm - box, size=box)

    left = 1.5 * mm + box + 0.5 * mm
    text_width = width - left - 3.5 * mm
    last = _draw_wrapped(
        canvas, person.full_name, left, height - 7.5 * mm, text_width, FONT_BOLD, 11, max_lines=3
    )
    canvas.setFont(FONT, 8)
    canvas.drawString(
        left, last - 4.5 * mm, _("Year of birth: %(year)s") % {"year": person.birth_year}
    )
    canvas.setFont(FONT, 6.5)
    canvas.drawString(left, 24.5 * mm, _("Personal code"))
    canvas.setFont(FONT_BOLD, 15)
    canvas.drawString(left, 19 * mm, format_person_code(person.code))

    canvas.setFont(FONT, 6.5)
    canvas.drawCentredString(width / 2, 4 * mm, _fit(CARD_REMINDER, FONT, 6.5, width - 6 * mm))
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def sticker_sheet_pdf(
    people: Iterable[Person],
    *,
    title: str,
    stock: LabelStock = STICKERS_70X35,
    cut_guides: bool = False,
) -> bytes:
    """A4 sheets of QR stickers, `stock.per_page` a page, in the order given.

    Each person needs `qr_token`, `full_name`, `birth_year` and `code` only, so
    pass a queryset with `.only(...)` for long lists. `cut_guides` draws the label
    edges, for plain paper cut with scissors (never on pre-cut stock: a misfeed
    would print the lines across the labels).
    """
    register_fonts()
    people = list(people)
    pages = max(1, -(-len(people) // stock.per_page))
    buffer = io.BytesIO()
    canvas = _canvas(buffer, stock.page_size, title=title)
    page_width, page_height = stock.page_size
    for page in range(pages):
        canvas.setFont(FONT, 8)
        canvas.setFillGray(0)
        header = _("%(title)s — page %(page)s of %(pages)s") % {
            "title": title,
            "page": page + 1,
            "pages": pages,
        }
        canvas.drawCentredString(
            page_width / 2, page_height - 5.5 * mm, _fit(header, FONT, 8, page_width - 20 * mm)
        )
        chunk = people[page * stock.per_page : (page + 1) * stock.per_page]
        for index, person in enumerate(chunk):
            row, column = divmod(index, stock.columns)
            x = stock.left + column * stock.label_width
            y = page_height - stock.top - (row + 1) * stock.label_height
            if cut_guides:
                canvas.setStrokeGray(0.8)
                canvas.setLineWidth(0.25)
                canvas.rect(x, y, stock.label_width, stock.label_height)
            _draw_sticker(canvas, person, x, y, stock.label_width, stock.label_height)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_sticker(
    canvas: Canvas, person: Person, x: float, y: float, width: float, height: float
) -> None:
    box = min(height - 6 * mm, 29 * mm)  # QR and quiet zone; the zone absorbs label drift
    draw_qr(canvas, qr.encode_payload(person), x=x + 1.5 * mm, y=y + (height - box) / 2, size=box)
    left = x + 1.5 * mm + box + 0.5 * mm
    text_width = x + width - 5 * mm - left  # printers leave ~4 mm at the sheet edge
    last = _draw_wrapped(
        canvas, person.full_name, left, y + height - 7 * mm, text_width, FONT_BOLD, 8, max_lines=3
    )
    canvas.setFont(FONT, 7)
    canvas.drawString(
        left, last - 3.5 * mm, _("Year of birth: %(year)s") % {"year": person.birth_year}
    )
    canvas.setFont(FONT_BOLD, 11)
    canvas.drawString(left, y + 5 * mm, format_person_code(person.code))


def draw_qr(canvas: Canvas, payload: str, *, x: float, y: float, size: float) -> None:
    """The QR for `payload` in the square (x, y, size), quiet zone included, as vectors."""
    symbol = qr.make_symbol(payload)
    matrix = symbol.matrix
    count = len(matrix)
    module = size / (count + 2 * qr.QUIET_ZONE)
    canvas.saveState()
    canvas.setFillGray(1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)  # the quiet zone stays white
    canvas.translate(x + qr.QUIET_ZONE * module, y + qr.QUIET_ZONE * module)
    canvas.scale(module, module)
    path = canvas.beginPath()
    for row_index, row in enumerate(matrix):
        top = count - 1 - row_index  # PDF y grows upwards
        column = 0
        while column < count:
            if row[column] & 1:
                start = column
                while column < count and row[column] & 1:
                    column += 1
                path.rect(start, top, column - start, 1)
            else:
                column += 1
    canvas.setFillGray(0)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def _canvas(buffer: io.BytesIO, page_size: tuple[float, float], *, title: str) -> Canvas:
    canvas = Canvas(buffer, pagesize=page_size, pageCompression=1)
    canvas.setTitle(title)
    canvas.setAuthor("Swabline")
    canvas.setCreator("Swabline")
    return canvas


def _draw_wrapped(
    canvas: Canvas,
    text: str,
    x: float,
    y: float,
    width: float,
    font: str,
    size: float,
    *,
    max_lines: int,
) -> float:
    """`text` wrapped to `width` from baseline `y` down; returns the last line's baseline."""
    lines = simpleSplit(text, font, size, width)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], _fit(" ".join(lines[max_lines - 1 :]), font, size, width)]
    canvas.setFont(font, size)
    canvas.setFillGray(0)
    leading = size * 1.2
    for index, line in enumerate(lines):
        canvas.drawString(x, y - index * leading, _fit(line, font, size, width))
    return y - (len(lines) - 1) * leading


def _fit(text: str, font: str, size: float, width: float) -> str:
    """`text`, cut with an ellipsis if it is wider than `width`."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"
