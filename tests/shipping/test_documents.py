"""The manifest: barcodes read back by a real decoder from the rendered PDF, and an
XLSX where names stay text."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
import zxingcpp
from openpyxl import load_workbook
from PIL import Image

from swabline.sampling.codes import format_tube_code
from swabline.shipping import documents
from tests.shipping.helpers import in_transit, tube, tubes

pytestmark = pytest.mark.django_db

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils not installed (apt-get install -y poppler-utils)",
)


def pages(pdf: bytes, tmp_path) -> list[Image.Image]:
    source = tmp_path / "manifest.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "300", "-gray", "-png", source, tmp_path / "page"],
        check=True, timeout=60,
    )  # fmt: skip
    return [Image.open(p) for p in sorted(tmp_path.glob("page-*.png"))]


@needs_poppler
def test_the_manifest_barcodes_read_back(world, tmp_path):
    ts = tubes(world, 14, people=3)  # two pages
    named = tube(world, people=2, names=["Trần Thị Bích Ngọc", "=HYPERLINK(1)"])
    s = in_transit(world, [*ts, named])
    pdf = documents.manifest_pdf(s)
    assert pdf.startswith(b"%PDF")
    read: set[str] = set()
    images = pages(pdf, tmp_path)
    assert len(images) >= 2
    for image in images:
        read |= {b.text for b in zxingcpp.read_barcodes(image) if b.format.name == "Code128"}
    assert read == {t.code for t in [*ts, named]}
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", tmp_path / "manifest.pdf", "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    assert format_tube_code(named.code) in text
    assert "Trần Thị Bích Ngọc (1980)" in text
    assert "Anh Tư" in text and "Điểm A" in text and world.lab_a.name in text
    assert "+8491" not in text  # no phone numbers travel with the box


def test_the_xlsx_keeps_codes_and_names_as_text(world):
    named = tube(world, people=2, names=["Trần Thị Bích Ngọc", "=HYPERLINK(1)"])
    s = in_transit(world, [named, tube(world, people=1)])
    stream = io.BytesIO()
    assert documents.manifest_xlsx(s, stream) == 2
    sheet = load_workbook(io.BytesIO(stream.getvalue())).active
    rows = list(sheet.iter_rows(values_only=True))
    body = [r for r in rows if r and r[0] in (named.code,)]
    assert [r[4] for r in body] == ["Trần Thị Bích Ngọc", "=HYPERLINK(1)"]
    assert all(isinstance(r[0], str) for r in body)
    cells = {c.value: c for row in sheet.iter_rows() for c in row if c.value == "=HYPERLINK(1)"}
    assert cells["=HYPERLINK(1)"].data_type == "s"
    assert ["Điểm A" in str(r[1]) for r in rows if r and r[1]].count(True) == 1
