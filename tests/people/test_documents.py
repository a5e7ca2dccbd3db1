"""Printed cards and sticker sheets: rasterised with poppler's pdftoppm, every QR on a
page decoded with zxing-cpp, and the Vietnamese text read back with pdftotext.

Skipped only where poppler-utils is missing (``apt-get install -y poppler-utils``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from django.utils import translation
from PIL import Image

from swabline.people import documents, qr
from swabline.people.models import Person
from tests.factories import PersonFactory, make_place

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils not installed (apt-get install -y poppler-utils)",
)

NAMES = [
    "Nguyễn Thị Bích Ngọc",
    "Trần Văn Đức",
    "Lê Hoàng Ánh Tuyết",
    "Phạm Quốc Khánh",
    "Đỗ Thị Ưng",
    "Huỳnh Ơn",
    "Tôn Nữ Thị Minh Khai Hoàng Phương Thảo Nguyên",  # wraps and is cut short
    "Lý A",
]


def people(count: int) -> list[Person]:
    return [
        Person(full_name=NAMES[i % len(NAMES)], birth_year=1930 + (i * 7) % 90)
        for i in range(count)
    ]  # unsaved: the documents need no database


def rasterise(
    pdf: bytes, tmp_path: Path, *, dpi: int, first: int = 1, last: int = 1
) -> list[Image.Image]:
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-gray",
            "-png",
            "-f",
            str(first),
            "-l",
            str(last),
            source,
            tmp_path / "page",
        ],
        check=True,
        timeout=60,
    )
    return [Image.open(p) for p in sorted(tmp_path.glob("page-*.png"))]


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "text.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", source, "-"], check=True, capture_output=True, timeout=60
    )
    return result.stdout.decode()


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf))


def decoded(image: Image.Image) -> list[zxingcpp.Barcode]:
    found = zxingcpp.read_barcodes(image)
    assert all(b.format == zxingcpp.BarcodeFormat.QRCode for b in found)
    return list(found)


def assert_quiet_zone(image: Image.Image, barcode: zxingcpp.Barcode, modules: int = 29) -> None:
    """Nothing but white for four modules around the symbol zxing found."""
    corners = barcode.position
    xs = [corners.top_left.x, corners.top_right.x, corners.bottom_left.x, corners.bottom_right.x]
    ys = [corners.top_left.y, corners.top_right.y, corners.bottom_left.y, corners.bottom_right.y]
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)  # the symbol's outer edges
    zone = 4 * (right - left) / modules
    pixels = image.convert("L").load()
    assert pixels is not None
    for y in range(int(top - zone) + 1, int(bottom + zone)):
        for x in range(int(left - zone) + 1, int(right + zone)):
            if left - 2 <= x <= right + 1 and top - 2 <= y <= bottom + 1:
                continue  # the symbol, with a pixel of anti-aliasing
            value = pixels[x, y]
            assert isinstance(value, int) and value > 160, (
                f"dark pixel in the quiet zone at {(x, y)}"
            )


def squeeze(text: str) -> str:
    return " ".join(text.split())


@needs_poppler
def test_person_card(tmp_path: Path) -> None:
    person = Person(full_name="Nguyễn Thị Bích Ngọc", birth_year=1961)
    with translation.override("en"):
        pdf = documents.person_card_pdf(person)
    assert pdf.startswith(b"%PDF") and page_count(pdf) == 1
    [page] = rasterise(pdf, tmp_path, dpi=300)
    assert abs(page.width / 300 * 25.4 - 85.6) < 0.5  # ID-1 card size
    found = decoded(page)
    assert [b.text for b in found] == [qr.encode_payload(person)]
    assert_quiet_zone(page, found[0])
    text = squeeze(pdf_text(pdf, tmp_path))
    assert "Nguyễn Thị Bích Ngọc" in text
    assert person.display_code in text and re.fullmatch(r"\w{4}-\w{4}", person.display_code)
    assert "Year of birth: 1961" in text
    assert "Mang thẻ này khi đi lấy mẫu / Bring this card to sampling" in text


@needs_poppler
def test_person_card_with_a_very_long_name_still_scans(tmp_path: Path) -> None:
    person = Person(
        full_name="Công Tằng Tôn Nữ Thị Minh Khai Hoàng Phương Thảo Nguyên Anh", birth_year=2001
    )
    pdf = documents.person_card_pdf(person)
    [page] = rasterise(pdf, tmp_path, dpi=200)
    assert [b.text for b in decoded(page)] == [qr.encode_payload(person)]
    assert "Công Tằng Tôn Nữ" in pdf_text(pdf, tmp_path)


@needs_poppler
def test_full_sticker_page_decodes_all_24(tmp_path: Path) -> None:
    batch = people(24)
    with translation.override("en"):
        pdf = documents.sticker_sheet_pdf(batch, title="Phường Tân Ninh")
    assert page_count(pdf) == 1
    [page] = rasterise(pdf, tmp_path, dpi=200)
    assert page.size == (1654, 2339)  # A4 at 200 dpi
    found = decoded(page)
    assert len(found) == 24
    assert sorted(b.text for b in found) == sorted(qr.encode_payload(p) for p in batch)
    assert_quiet_zone(page, found[0])
    # Reading order: top-left sticker first, three a row.
    by_position = sorted(
        found, key=lambda b: (round(b.position.top_left.y / 100), b.position.top_left.x)
    )
    assert [b.text for b in by_position] == [qr.encode_payload(p) for p in batch]
    text = squeeze(pdf_text(pdf, tmp_path))  # names wrap on stickers
    assert "Phường Tân Ninh — page 1 of 1" in text
    for name in NAMES[:6]:
        assert name in text
    assert all(p.display_code in text for p in batch)


@needs_poppler
def test_long_list_runs_over_several_pages(tmp_path: Path) -> None:
    batch = people(50)
    with translation.override("en"):
        pdf = documents.sticker_sheet_pdf(batch, title="Xã Thạnh Đức")
    assert page_count(pdf) == 3
    pages = rasterise(pdf, tmp_path, dpi=150, first=1, last=3)
    counts = [len(decoded(page)) for page in pages]
    assert counts == [24, 24, 2]
    last_page = {b.text for b in decoded(pages[2])}
    assert last_page == {qr.encode_payload(p) for p in batch[48:]}
    text = pdf_text(pdf, tmp_path)
    assert "Xã Thạnh Đức — page 3 of 3" in text


def test_empty_list_gives_one_page_with_the_title() -> None:
    pdf = documents.sticker_sheet_pdf([], title="Phường IV")
    assert pdf.startswith(b"%PDF") and page_count(pdf) == 1


def test_fonts_are_embedded() -> None:
    pdf = documents.person_card_pdf(Person(full_name="Đặng Thùy Trâm", birth_year=1942))
    assert b"DejaVuSans" in pdf and b"/FontFile2" in pdf


@needs_poppler
@pytest.mark.django_db
def test_sticker_sheet_from_a_queryset(tmp_path: Path) -> None:
    province = make_place("Tỉnh Tây Ninh", level="province")
    ward = make_place("Phường IV", parent=province)
    for i, name in enumerate(["Võ Thị Sáu", "Nguyễn Hữu Thọ", "Trương Định"]):
        PersonFactory.create(ward=ward, full_name=name, birth_year=1940 + i, birth_date=None)
    queryset = ward.people.only("qr_token", "full_name", "birth_year", "code")
    pdf = documents.sticker_sheet_pdf(queryset, title=ward.name, cut_guides=True)
    [page] = rasterise(pdf, tmp_path, dpi=150)
    assert sorted(b.text for b in decoded(page)) == sorted(qr.encode_payload(p) for p in queryset)
    text = squeeze(pdf_text(pdf, tmp_path))
    assert "Võ Thị Sáu" in text and "Trương Định" in text and "Phường IV" in text


def test_quiet_zone_check_catches_a_narrow_border() -> None:
    import io

    payload = qr.build_payload("G4Q7ZK2M5XWUAJ3C6NVPEYRHLA", "Lý A", 1961)
    buffer = io.BytesIO()
    qr.make_symbol(payload).save(buffer, kind="png", scale=6, border=2)
    framed = Image.new("L", (400, 400), 0)  # black all round: only two white modules
    framed.paste(Image.open(io.BytesIO(buffer.getvalue())).convert("L"), (10, 10))
    [found] = decoded(framed)
    with pytest.raises(AssertionError, match="quiet zone"):
        assert_quiet_zone(framed, found)
    wide = Image.new("L", (400, 400), 255)
    wide.paste(Image.open(io.BytesIO(qr.qr_png(payload, scale=6))).convert("L"), (10, 10))
    assert_quiet_zone(wide, decoded(wide)[0])
