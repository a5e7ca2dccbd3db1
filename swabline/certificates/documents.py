"""The certificate PDF: one A4 page, Vietnamese and English side by side.

Set in the vendored DejaVu Sans like the people's cards (`people.documents`), so
every Vietnamese letter prints and the text can be copied. The QR is embedded as a
PNG image (segno, error correction M, 4-module quiet zone), so a verifier can pull
it out of the file as well as scan the printed page.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import segno
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader

from swabline.certificates import enums
from swabline.people.documents import FONT, FONT_BOLD, _canvas, _draw_wrapped, register_fonts

# Fixed wording, deliberately in both languages whatever the interface language is.
TITLE_VI = "GIẤY CHỨNG NHẬN KẾT QUẢ XÉT NGHIỆM COVID-19"
TITLE_EN = "COVID-19 test result certificate"
NEWER_RESULT = (
    "Đã có kết quả mới hơn cho người này: giấy này không còn là kết quả hiện tại.",
    "A newer result exists for this person: this is no longer the current result.",
)
FOOTER = (
    "Quét mã QR hoặc mở trang /verify để kiểm tra chữ ký (định dạng EU DCC).",
    "Scan the QR code or open /verify to check the signature (EU DCC format).",
)
TEST_TYPES = {
    enums.TYPE_NAAT: ("RT-PCR (xét nghiệm axit nucleic)", "RT-PCR (nucleic acid test)"),
    enums.TYPE_RAT: ("Test nhanh kháng nguyên", "Rapid antigen test"),
}
RESULTS = {
    enums.RESULT_NOT_DETECTED: ("ÂM TÍNH", "Negative (not detected)"),
    enums.RESULT_DETECTED: ("DƯƠNG TÍNH", "Positive (detected)"),
}
QR_SIZE = 95 * mm


@dataclass(frozen=True)
class Row:
    vi: str
    en: str
    value: str


def qr_png(text: str) -> bytes:
    buffer = io.BytesIO()
    segno.make_qr(text, error="m", boost_error=False).save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


def rows(dcc: dict[str, Any], *, issued: str, expires: str) -> list[Row]:
    test = dcc["t"][0]
    name = dcc["nam"]
    full_name = " ".join(p for p in (name.get("fn", ""), name.get("gn", "")) if p)
    sampled = timezone.localtime(
        dt.datetime.fromisoformat(test["sc"].replace("Z", "+00:00"))
    ).strftime("%d/%m/%Y %H:%M")
    test_type = TEST_TYPES.get(test["tt"], (test["tt"], test["tt"]))
    result = RESULTS.get(test["tr"], (test["tr"], test["tr"]))
    return [
        Row("Họ và tên", "Name", full_name),
        Row("Ngày sinh", "Date of birth", _dob(str(dcc["dob"]))),
        Row("Loại xét nghiệm", "Test type", f"{test_type[0]} / {test_type[1]}"),
        Row("Thời gian lấy mẫu", "Sample collected", sampled),
        Row("Kết quả", "Result", f"{result[0]} / {result[1]}"),
        Row("Nơi xét nghiệm", "Testing centre", test["tc"]),
        Row("Đơn vị cấp", "Issuer", test["is"]),
        Row("Mã chứng nhận", "Certificate ID (UVCI)", test["ci"]),
        Row("Cấp lúc", "Issued", issued),
        Row("Có hiệu lực đến", "Valid until", expires),
    ]


def _dob(value: str) -> str:
    parts = value.split("-")
    return "/".join(reversed(parts)) if len(parts) == 3 else value


def certificate_pdf(
    *, hcert_text: str, dcc: dict[str, Any], issued: str, expires: str, newer_result: bool
) -> bytes:
    register_fonts()
    buffer = io.BytesIO()
    width, height = A4
    canvas = _canvas(buffer, A4, title=TITLE_EN)
    margin = 18 * mm
    top = height - margin

    canvas.setFillGray(0)
    canvas.setFont(FONT_BOLD, 15)
    canvas.drawCentredString(width / 2, top, TITLE_VI)
    canvas.setFont(FONT, 11)
    canvas.drawCentredString(width / 2, top - 6.5 * mm, TITLE_EN)

    y = top - 14 * mm
    if newer_result:
        canvas.setFillColorRGB(0.7, 0.1, 0.1)
        for line in NEWER_RESULT:
            canvas.setFont(FONT_BOLD, 9.5)
            canvas.drawCentredString(width / 2, y, line)
            y -= 5 * mm
        canvas.setFillGray(0)

    image = ImageReader(io.BytesIO(qr_png(hcert_text)))
    qr_top = y - 2 * mm
    canvas.drawImage(image, (width - QR_SIZE) / 2, qr_top - QR_SIZE, QR_SIZE, QR_SIZE)
    y = qr_top - QR_SIZE - 8 * mm

    label_width = 62 * mm
    value_x = margin + label_width
    value_width = width - margin - value_x
    for row in rows(dcc, issued=issued, expires=expires):
        canvas.setFont(FONT_BOLD, 9.5)
        canvas.drawString(margin, y, row.vi)
        canvas.setFont(FONT, 8)
        canvas.setFillGray(0.35)
        canvas.drawString(margin, y - 3.8 * mm, row.en)
        canvas.setFillGray(0)
        last = _draw_wrapped(canvas, row.value, value_x, y, value_width, FONT, 10.5, max_lines=2)
        y = min(y - 9.5 * mm, last - 6 * mm)
        canvas.setStrokeGray(0.85)
        canvas.setLineWidth(0.3)
        canvas.line(margin, y + 4 * mm, width - margin, y + 4 * mm)

    canvas.setFont(FONT, 8)
    canvas.setFillGray(0.35)
    for index, line in enumerate(FOOTER):
        canvas.drawCentredString(width / 2, margin - index * 4 * mm, line)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
