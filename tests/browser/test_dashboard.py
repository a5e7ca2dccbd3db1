"""The command center in Chromium (issue #7 acceptance): a province official opens
the dashboard from the home page, drills into the ward with a backlog alarm,
follows the alarm to the exact tubes, sees the figures refresh by themselves and
downloads the daily XLSX; a ward official sees only their ward."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.urls import reverse
from playwright.sync_api import expect

from swabline.sampling.models import Tube
from tests.browser.station_helpers import log_in
from tests.dashboard.scenario import age, run_day
from tests.results.helpers import tube_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def desk(browser: Any, live_server: Any, world: Any, username: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(
        viewport={"width": 1366, "height": 900},
        locale="en-US",
        base_url=live_server.url,
        accept_downloads=True,
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    log_in(page, live_server.url, world, username)
    return context, page, errors


def test_province_official_follows_an_alarm_to_the_tubes(browser, live_server, world, settings):
    settings.DASHBOARD_REFRESH_SECONDS = 1
    day = run_day(world)
    age([day.tubes["closed"], day.tubes["shipped"]], hours=13)
    context, page, errors = desk(browser, live_server, world, "province")

    page.goto("/")
    page.locator('[data-permission="view_dashboard"] a[href="/dashboard/"]').click()
    expect(page.get_by_test_id("dashboard-title")).to_have_text(world.province.name)
    expect(page.locator('[data-figure="recall_pending"]')).to_have_text("6")
    # The chart is drawn from the vendored Chart.js (no CDN, no inline script).
    expect(page.get_by_test_id("chart-hours")).to_have_attribute("data-drawn", "1")
    ward_b = page.locator(f'[data-testid=row][data-code="{world.ward_b.code}"]')
    expect(ward_b).to_have_attribute("data-alarms", "2")
    expect(page.locator(f'[data-testid=row][data-code="{world.ward_a.code}"]')).to_have_attribute(
        "data-alarms", "0"
    )

    # Drill into the ward with the backlog, then follow the alarm.
    ward_b.get_by_role("link").click()
    expect(page.get_by_test_id("dashboard-title")).to_have_text(world.ward_b.name)
    expect(page.locator('[data-alarm="closed"]')).to_have_attribute("data-count", "1")
    page.get_by_test_id("alarm-link-closed").click()
    expect(page.get_by_test_id("alarm-title")).to_have_text("Closed but not shipped")
    rows = page.get_by_test_id("alarm-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-tube", day.tubes["closed"].code)
    page.go_back()

    # The figures follow the station without a reload.
    expect(page.locator('[data-figure="tubes_open"]')).to_have_text("1")
    page.evaluate("document.body.dataset.marker = 'same-page'")
    tube_with(world, 2, site=world.site_b, close=False)
    expect(page.locator('[data-figure="tubes_open"]')).to_have_text("2")
    assert page.evaluate("document.body.dataset.marker") == "same-page"

    # The paper backlog (issue #9) is loaded into the page too.
    expect(page.get_by_test_id("paper-backlog-figures")).to_be_visible()

    # The daily report, as officials send it upward.
    with page.expect_download() as download:
        page.get_by_test_id("daily-xlsx").click()
    book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    cells = [str(c.value) for row in book.active.iter_rows() for c in row if c.value is not None]
    assert world.ward_b.name in cells
    context.close()
    assert errors == []


def test_a_ward_official_sees_only_their_ward(browser, live_server, world):
    run_day(world)
    context, page, errors = desk(browser, live_server, world, "ward_a")
    page.goto(reverse("dashboard:home"))
    expect(page.get_by_test_id("dashboard-title")).to_have_text(world.ward_a.name)
    rows = page.get_by_test_id("row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-code", str(world.site_a.public_id))
    open_in_a = Tube.objects.filter(site=world.site_a, status="open").count()
    expect(page.locator('[data-figure="tubes_open"]')).to_have_text(str(open_in_a))
    expect(page.get_by_text(world.site_b.name)).to_have_count(0)
    expect(page.get_by_text(world.ward_b.name)).to_have_count(0)
    response = page.goto(
        reverse("dashboard:progress", kwargs={"public_id": world.campaign.public_id})
        + f"?place={world.ward_b.code}"
    )
    assert response.status == 404
    context.close()
    assert errors == []
