"""A citizen registers a household of three on a phone and downloads a QR card."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from swabline.people.models import Person
from swabline.people.qr import encode_payload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_household_of_three_registers_and_downloads_a_card(phone_page, world):
    page = phone_page
    page.goto("/register/")
    assert page.locator("h1").inner_text() == "Khai báo y tế"

    first = page.get_by_test_id("member-0")
    first.get_by_label("Họ và tên").fill("nguyen thi bich ngoc")
    first.get_by_label("Ngày sinh").fill("15/08/1961")
    first.get_by_label("Nữ").check()
    for index, (name, birth, sex) in enumerate(
        [("Trần Văn Hùng", "02/01/1958", "Nam"), ("Trần Gia Bảo", "2016", "Nam")], start=1
    ):
        page.get_by_role("button", name="Thêm thành viên gia đình").click()
        member = page.get_by_test_id(f"member-{index}")
        member.wait_for()
        member.get_by_label("Họ và tên").fill(name)
        member.get_by_label("Ngày sinh").fill(birth)
        member.get_by_label(sex, exact=True).check()

    page.get_by_label("Số điện thoại", exact=True).fill("0912345678")
    page.get_by_label("Phường/xã").fill("tan ninh")
    page.get_by_test_id("ward-options").get_by_label("Phường Tân Ninh").check()
    page.get_by_label("Số nhà, đường, thôn/tổ").fill("12 Cách Mạng Tháng Tám")
    page.get_by_role("button", name="Đăng ký và nhận mã QR").click()

    page.get_by_role("heading", name="Mã QR của bạn").wait_for()
    cards = page.get_by_test_id("qr-card")
    assert cards.count() == 3
    people = list(Person.objects.order_by("id"))
    assert [p.full_name for p in people] == [
        "Nguyen Thi Bich Ngoc",
        "Trần Văn Hùng",
        "Trần Gia Bảo",
    ]
    assert len({p.household_key for p in people}) == 1
    assert page.get_by_test_id("person-code").first.inner_text() == people[0].display_code

    with page.expect_download() as download_info:
        cards.first.get_by_test_id("card-pdf").click()
    pdf = download_info.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")

    png_link = cards.nth(2).get_by_role("link", name="Tải mã QR (PNG)")
    with page.expect_download() as download_info:
        png_link.click()
    image = Image.open(io.BytesIO(download_info.value.path().read_bytes()))
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [encode_payload(people[2])]


def test_errors_are_shown_per_field_in_vietnamese(phone_page, world):
    page = phone_page
    page.goto("/register/")
    first = page.get_by_test_id("member-0")
    first.get_by_label("Họ và tên").fill("Lê Văn Tám")
    first.get_by_label("Ngày sinh").fill("31/02/1990")
    first.get_by_label("Nam", exact=True).check()
    page.get_by_label("Số điện thoại", exact=True).fill("12345")
    page.get_by_role("button", name="Đăng ký và nhận mã QR").click()
    body = page.locator("main").inner_text()
    assert "Hãy chọn phường/xã của bạn trong danh sách." in body
    assert "Ghi ngày sinh theo dạng dd/mm/yyyy, hoặc chỉ ghi năm." in body
    assert Person.objects.count() == 0
