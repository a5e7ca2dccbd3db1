"""Shared fixtures: a small world with two wards, two sites and two labs, and a
persona per role, plus the headless-Chromium fixtures for browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.accounts.models import User
from swabline.campaigns.models import Campaign, Site
from swabline.labs.models import Lab
from swabline.places.enums import Level
from swabline.places.models import Place
from tests.factories import CampaignFactory, LabFactory, SiteFactory, UserFactory, make_place

# Every log line of the session is scanned for personal data (tests/log_scan.py).
pytest_plugins = ["tests.log_scan"]

# Playwright's sync API runs an event loop in the test thread; Django would then refuse
# ORM calls from tests and live_server teardown (see TRAPS).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct-horse-battery"


def pytest_configure(config: Any) -> None:
    from django.conf import settings

    # Second factor stays on in tests; force_login gives a fully logged-in user.
    Client.force_login = _force_login_verified  # type: ignore[method-assign,assignment]

    # Hashing with the production hasher costs ~0.3 s per user; tests make hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests compare the dashboard with a recount right after each change: no cached
    # figures unless a test asks for them (the default serves them for 10 s).
    settings.DASHBOARD_CACHE_SECONDS = 0
    os.makedirs(settings.STATIC_ROOT, exist_ok=True)


_plain_force_login = Client.force_login


def _force_login_verified(self: Client, user: Any, backend: str | None = None) -> None:
    """Client.force_login, then, for a user who needs a second factor, the session
    marked verified as django_otp.login() does (tests.otp.verify_session)."""
    from tests.otp import needs_second_factor, verify_session

    _plain_force_login(self, user, backend)
    if needs_second_factor(user):
        verify_session(self, user)


@pytest.fixture(autouse=True)
def _imports_in_tmp(settings: Any, tmp_path_factory: Any) -> None:
    """Uploaded lists hold personal data: tests keep theirs out of the checkout."""
    settings.PEOPLE_IMPORT_DIR = str(tmp_path_factory.mktemp("imports"))


@dataclass
class World:
    province: Place
    other_province: Place
    ward_a: Place
    ward_b: Place
    ward_c: Place
    campaign: Campaign
    site_a: Site
    site_b: Site
    lab_a: Lab
    lab_b: Lab
    users: dict[str, User]

    def client_for(self, name: str) -> Client:
        client = Client()
        client.force_login(self.users[name])
        return client


def build_world() -> World:
    province = make_place("Tỉnh Thử Nghiệm", level=Level.PROVINCE)
    other = make_place("Tỉnh Bên Cạnh", level=Level.PROVINCE)
    ward_a = make_place("Phường Tân Ninh", parent=province)
    ward_b = make_place("Phường Bình Minh", parent=province)
    ward_c = make_place("Xã Khác Tỉnh", parent=other)
    campaign = CampaignFactory.create(province=province)
    site_a = SiteFactory.create(campaign=campaign, ward=ward_a, name="Điểm A")
    site_b = SiteFactory.create(campaign=campaign, ward=ward_b, name="Điểm B")
    lab_a = LabFactory.create(place=province, name="Lab A")
    lab_b = LabFactory.create(place=other, name="Lab B")
    personas: list[tuple[str, Role, dict[str, Any]]] = [
        ("admin", Role.ADMIN, {}),
        ("province", Role.OFFICIAL, {"place": province}),
        ("ward_a", Role.OFFICIAL, {"place": ward_a}),
        ("ward_b", Role.OFFICIAL, {"place": ward_b}),
        ("sampler_a", Role.SAMPLER, {"site": site_a}),
        ("dataentry_a", Role.DATA_ENTRY, {"place": ward_a}),
        ("courier_a", Role.COURIER, {"site": site_a}),
        ("labtech_a", Role.LAB_TECHNICIAN, {"lab": lab_a}),
        ("labtech_b", Role.LAB_TECHNICIAN, {"lab": lab_b}),
        ("labsupervisor_a", Role.LAB_SUPERVISOR, {"lab": lab_a}),
    ]
    users = {}
    for name, role, scope in personas:
        user = UserFactory.create(
            username=name, is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN
        )
        accounts.assign(user=user, role=role, by=None, **scope)
        users[name] = user
    users["nobody"] = UserFactory.create(username="nobody")
    return World(
        province, other, ward_a, ward_b, ward_c, campaign, site_a, site_b, lab_a, lab_b, users
    )


@pytest.fixture
def world(db: None) -> World:
    return build_world()


# --- Browser ------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
_browser_tests_ran = 0


def chromium_path() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    """One Playwright driver for the session (a second sync_playwright() would clash)."""
    if chromium_path() is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium)")
        pytest.skip("no Chromium found: browser tests skipped (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_driver: Any) -> Iterator[Any]:
    browser = playwright_driver.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def phone_page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A page in a fresh context with a phone's viewport, speaking Vietnamese."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="vi-VN",
        base_url=live_server.url,
    )
    # Generous: both legs drive Chromium at once on two CPUs in CI.
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: _console_error(msg, errors))
    yield page
    context.close()
    assert errors == [], f"errors in the browser console: {errors}"


def pytest_runtest_logreport(report: Any) -> None:
    """Count the tests that drove Chromium (any test using the `browser` fixture)."""
    global _browser_tests_ran
    if report.when == "call" and report.passed and "browser" in getattr(report, "fixtures", ()):
        _browser_tests_ran += 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    outcome.get_result().fixtures = tuple(getattr(item, "fixturenames", ()))  # type: ignore[attr-defined]


def _console_error(message: Any, errors: list[str]) -> None:
    # A 403/404 page that a test opens on purpose is logged as a failed load; that is
    # the server's answer, not a script error.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _browser_tests_ran:
        terminalreporter.write_line(
            f"Browser tests: {_browser_tests_ran} ran in Chromium ({chromium_path()})"
        )
    elif chromium_path() is None:
        terminalreporter.write_line("Browser tests: skipped, no Chromium found")
