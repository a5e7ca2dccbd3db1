"""In Chromium: an enrolled official passes the code step after the password, and a
run of wrong passwords ends on the lock-out page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.otp import authenticator, code_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _password(page, username: str, password: str) -> None:
    page.goto("/accounts/login/?next=/people/")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def test_an_official_types_the_code_after_the_password(phone_page, world):
    device = authenticator(world.users["ward_a"])
    page = phone_page
    _password(page, "ward_a", PASSWORD)
    expect(page.get_by_test_id("two-factor-verify")).to_be_visible()
    assert "/accounts/two-factor/?next=%2Fpeople%2F" in page.url
    page.locator("input[name=code]").fill("000000")
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.wait_for_timeout(1100)  # django-otp's wait after one wrong code
    page.locator("input[name=code]").fill(code_for(device))
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    page.wait_for_url("**/people/")
    expect(page.get_by_test_id("username")).to_have_text("ward_a")


def test_wrong_passwords_end_on_the_lock_out_page(phone_page, world, settings):
    settings.AXES_FAILURE_LIMIT = 2
    page = phone_page
    _password(page, "sampler_a", "wrong-1")
    expect(page.get_by_role("alert")).to_be_visible()
    _password(page, "sampler_a", "wrong-2")
    expect(page.get_by_test_id("locked-out")).to_be_visible()
    _password(page, "sampler_a", PASSWORD)  # the right one, too late
    expect(page.get_by_test_id("locked-out")).to_be_visible()
    page.get_by_test_id("locked-out").get_by_role("link").click()
    expect(page.get_by_label("Tên đăng nhập")).to_be_visible()
