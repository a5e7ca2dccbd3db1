"""A data-entry volunteer imports a messy XLSX, reads the error report, and commits."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.management import call_command

from swabline.people.models import Person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def messy_xlsx(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["DANH SÁCH HỘ GIA ĐÌNH — TỔ 5"])
    sheet.merge_cells("A1:G1")
    sheet.append([])
    sheet.append(
        ["Họ và tên", "Ngày sinh", "Giới tính", "Số điện thoại", "CCCD", "Địa chỉ", "Mã hộ"]
    )
    sheet.append(["Phạm Văn An ", "15/08/1961", "Nam", 912345678.0, 72161012345, "12 Lê Lợi", "H1"])
    sheet.append(
        ["Nguye\u0302\u0303n Thị Bình", 22508, "Nữ", "0912345678", None, "12 Lê Lợi", "H1"]
    )
    sheet.append([None, None, None, None, None, None, None])
    sheet.append(["Trần Văn Cường", "31/02/1990", "Nam", "0987654321", None, "3 Hùng Vương", "H2"])
    sheet.append(["Lê Thị Dung", "1975", "Nữ", "12345", None, "3 Hùng Vương", "H2"])
    sheet.append(["Phạm Văn An", "15/08/1961", "Nam", "0912345678", None, "12 Lê Lợi", "H1"])
    path = tmp_path / "ho-gia-dinh.xlsx"
    book.save(path)
    return path


def test_data_entry_imports_a_messy_list_and_sees_the_errors(phone_page, world, tmp_path):
    page = phone_page
    page.goto("/accounts/login/")
    page.get_by_label("Tên đăng nhập").fill("dataentry_a")
    page.get_by_label("Mật khẩu").fill("correct-horse-battery")
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url("**/")

    page.goto("/people/import/")
    with page.expect_download() as template:
        page.get_by_test_id("template").click()
    assert (
        openpyxl.load_workbook(io.BytesIO(template.value.path().read_bytes())).active["A1"].value
        is not None
    )

    page.get_by_label("Danh sách (XLSX hoặc CSV)").set_input_files(str(messy_xlsx(tmp_path)))
    page.get_by_role("button", name="Kiểm tra danh sách").click()
    counts = page.get_by_test_id("import-counts")
    counts.wait_for()
    assert counts.locator("[data-count=valid]").inner_text() == "2"
    assert counts.locator("[data-count=invalid]").inner_text() == "2"
    assert counts.locator("[data-count=duplicate]").inner_text() == "1"
    errors = page.get_by_test_id("import-errors").inner_text()
    assert "Ngày sinh" in errors
    assert "Số điện thoại" in errors
    assert Person.objects.count() == 0

    with page.expect_download() as failing:
        page.get_by_test_id("errors-xlsx").click()
    sheet = openpyxl.load_workbook(io.BytesIO(failing.value.path().read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert "Lỗi" in rows[0]
    assert len(rows) == 1 + 3  # header + two invalid rows + the repeated one

    page.get_by_test_id("commit").click()
    page.get_by_test_id("import-status").wait_for()
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)
    page.locator("[data-testid=import-status][data-status=done]").wait_for(timeout=15_000)
    assert sorted(Person.objects.values_list("full_name", flat=True)) == [
        "Nguyễn Thị Bình",
        "Phạm Văn An",
    ]
    assert Person.objects.get(full_name="Phạm Văn An").national_id == "072161012345"
