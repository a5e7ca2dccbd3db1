"""The issue's story end to end in Chromium: a citizen on a phone looks up a negative
result, downloads the certificate PDF, and the /verify page reads the PDF's QR and
says it is valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.certificates.helpers import qr_png_of_pdf, qr_texts_of_pdf
from tests.lookup.helpers import BORN, person
from tests.results.helpers import released

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_citizen_looks_up_downloads_and_verifies_a_certificate(phone_page, world, tmp_path):
    citizen = person(world, full_name="Trần Thị Đào")
    released(world, "negative", [citizen], kind="individual")
    page = phone_page

    page.goto("/lookup/")
    page.locator("#id_identifier").fill(citizen.display_code)
    page.locator("#id_day").fill(str(BORN.day))
    page.locator("#id_month").fill(str(BORN.month))
    page.locator("#id_year").fill(str(BORN.year))
    page.get_by_test_id("lookup-submit").click()
    page.wait_for_url("**/lookup/result/")
    card = page.get_by_test_id(f"person-{citizen.display_code}")
    assert card.get_by_test_id("state").get_attribute("class").count("state-negative") == 1

    with page.expect_download() as download_info:
        card.get_by_test_id("certificate").click()
    pdf_path = Path(tmp_path) / "certificate.pdf"
    download_info.value.save_as(pdf_path)
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF")
    [text] = qr_texts_of_pdf(pdf)
    assert text.startswith("HC1:")

    picture = Path(tmp_path) / "certificate.png"
    picture.write_bytes(qr_png_of_pdf(pdf))
    page.goto("/verify")
    page.wait_for_selector("[data-verify][data-ready=true]")
    page.get_by_test_id("file").set_input_files(str(picture))
    expect(page.get_by_test_id("text")).to_have_value(text, timeout=20_000)
    page.wait_for_selector("[data-testid=verdict][data-state=valid]")
    assert "Trần Thị Đào" in page.get_by_test_id("details").inner_text()
