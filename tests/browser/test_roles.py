"""In Chromium on a phone viewport: every demo role logs in, switches to English and
back, and sees exactly what its role allows."""

from __future__ import annotations

import base64

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from swabline.demo.seed import seed_demo
from tests.demo.places import demo_places

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OFFICIAL = {
    "view_dashboard",
    "view_sites",
    "manage_campaigns",
    "view_people",
    "view_places",
    "manage_users",
    "view_outcomes",
    "help_citizens",
    "handle_data_requests",
}
EXPECTED = {
    "admin": {
        "view_dashboard", "view_sites", "manage_campaigns", "capture_samples", "register_people",
        "backfill_samples",
        "view_people", "import_people", "view_places", "manage_shipments", "receive_tubes",
        "enter_results", "release_results", "manage_users", "view_outcomes", "help_citizens",
        "handle_data_requests",
    },
    "province": OFFICIAL,
    "ward": OFFICIAL,
    "sampler": {"view_sites", "capture_samples", "backfill_samples", "register_people", "view_people", "manage_shipments"},
    "dataentry": {"register_people", "backfill_samples", "view_people", "import_people", "view_places", "help_citizens"},
    "courier": {"view_sites", "manage_shipments"},
    "labtech": {"receive_tubes", "enter_results"},
    "labsupervisor": {"receive_tubes", "enter_results", "release_results"},
}  # fmt: skip
# A page each role must be refused (403), and one it may open.
FORBIDDEN = {
    "province": "/labs/",
    "ward": "/labs/",
    "sampler": "/places/",
    "dataentry": "/sites/",
    "courier": "/people/",
    "labtech": "/people/",
    "labsupervisor": "/sites/",
}
ALLOWED = {
    "admin": "/labs/",
    "province": "/places/",
    "ward": "/people/",
    "sampler": "/sites/",
    "dataentry": "/people/",
    "courier": "/sites/",
    "labtech": "/labs/",
    "labsupervisor": "/labs/",
}


# Roles that enrol an authenticator at their first login (TWO_FACTOR_ROLES).
TWO_FACTOR = {"admin", "province", "ward", "labsupervisor"}


def _log_in(page, username):
    page.goto("/accounts/login/")
    assert page.locator("h1").inner_text() == "Đăng nhập"
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill("demo-password-1")
    page.get_by_role("button", name="Đăng nhập").click()
    if username in TWO_FACTOR:
        _enrol(page)
    page.wait_for_url("**/")


def _enrol(page):
    """First login of a two-factor role: the QR shows, the key typed into an
    "authenticator" (django_otp's TOTP here) gives the code, backup codes follow."""
    page.get_by_test_id("two-factor-setup").wait_for()
    qr = page.get_by_test_id("totp-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 100")  # CSP let data: in
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.locator("input[name=code]").fill(str(totp(key)).zfill(6))
    page.locator("form:has(input[name=code]) button[type=submit]").click()
    expect(page.get_by_test_id("backup-codes").locator("li")).to_have_count(10)
    page.get_by_test_id("continue").click()


def test_each_demo_role_sees_what_it_may(phone_page):
    demo_places()
    seed_demo(password="demo-password-1", people=40)
    page = phone_page
    for username, expected in EXPECTED.items():
        _log_in(page, username)
        cards = page.locator("[data-testid=capabilities] [data-permission]")
        assert {
            cards.nth(i).get_attribute("data-permission") for i in range(cards.count())
        } == expected
        assert page.get_by_role("heading", name="Bạn có thể làm gì").is_visible()

        page.get_by_test_id("switch-language").click()
        page.get_by_role("heading", name="What you can do").wait_for()
        assert page.locator("html").get_attribute("lang") == "en"
        page.get_by_test_id("switch-language").click()
        page.get_by_role("heading", name="Bạn có thể làm gì").wait_for()
        assert page.locator("html").get_attribute("lang") == "vi"

        if username in FORBIDDEN:
            response = page.goto(FORBIDDEN[username])
            assert response.status == 403
            assert page.locator("h1").inner_text() == "Không được phép"
        response = page.goto(ALLOWED[username])
        assert response.status == 200

        page.goto("/")
        page.get_by_role("button", name="Đăng xuất").click()
        page.wait_for_url("**/accounts/login/**")


def test_wrong_password_shows_a_vietnamese_error(phone_page):
    demo_places()
    seed_demo(password="demo-password-1", people=0)
    page = phone_page
    page.goto("/accounts/login/")
    page.get_by_label("Tên đăng nhập").fill("ward")
    page.get_by_label("Mật khẩu").fill("wrong")
    page.get_by_role("button", name="Đăng nhập").click()
    assert (
        "Vui lòng điền vào Tên đăng nhập và mật khẩu chính xác"
        in page.get_by_role("alert").inner_text()
    )
