"""The lab chain end to end in Chromium (issue #5 acceptance): a courier builds a
shipment by scanning closed tubes and hands it over; the lab technician receives it
with one tube missing and one unexpected; the technician enters the rack by keyboard
(scan the code, one key for the result, Enter); the supervisor releases; the ward
official sees the positive pool's members on the recall list."""

from __future__ import annotations

from typing import Any

import pytest

from swabline.results.models import Outcome
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from swabline.shipping.models import ReceiptDiscrepancy, Shipment
from tests.browser.station_helpers import log_in
from tests.shipping.helpers import tube

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def scan(page: Any, code: str) -> None:
    """What a USB scanner does: the code typed into the focused input, then Enter."""
    assert page.evaluate("document.activeElement.id") == "scan"
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def desk(browser: Any, live_server: Any, world: Any, username: str) -> tuple[Any, Any, list[str]]:
    """A desktop page logged in as `username`, collecting page errors."""
    context = browser.new_context(
        viewport={"width": 1366, "height": 800}, locale="vi-VN", base_url=live_server.url
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, world, username)
    return context, page, errors


def test_courier_to_recall_list(phone_page, browser, live_server, world):
    positive = tube(world, people=3, names=["Trần Thị Dương", "Lê Văn Gộp", "Phạm Thị Ba"])
    negative, missing, stray = tube(world), tube(world), tube(world)

    # The courier packs three closed tubes on a phone and hands the box over.
    page = phone_page
    log_in(page, live_server.url, world, "courier_a")
    page.goto("/shipments/")
    page.click("#new-shipment")
    page.select_option("#lab", str(world.lab_a.public_id))
    page.click("#create")
    page.wait_for_selector("#scan")
    for t in (positive, negative, missing):
        scan(page, t.code)
        page.wait_for_selector(f'[data-testid="tube-{t.code}"]')
    page.fill("#courier-name", "Anh Tư")
    page.click("#hand-over")
    page.wait_for_selector('#shipment-status[data-status="in_transit"]')
    shipment = Shipment.objects.get()

    # The technician opens the box: one tube is missing, one is not on the manifest.
    context, bench, errors = desk(browser, live_server, world, "labtech_a")
    try:
        bench.goto("/shipments/lab/")
        bench.click(f'[data-testid="receive-{shipment.public_id}"]')
        bench.wait_for_selector(f'[data-testid="missing-{positive.code}"]')
        for t in (positive, negative):
            scan(bench, t.code)
            bench.wait_for_selector(f'[data-testid="found-{t.code}"]')
        scan(bench, stray.code)
        bench.wait_for_selector(f'[data-testid="unexpected-{stray.code}"]')
        bench.click("#receive")
        bench.wait_for_selector('#shipment-status[data-status="received"]')

        # The rack, keyboard only: scan, one key, Enter — back in the scan box.
        bench.goto(f"/labs/{world.lab_a.public_id}/entry/")
        for t, key in ((positive, "p"), (negative, "n")):
            scan(bench, t.code)
            bench.wait_for_selector(f'#tube-panel:has-text("{t.code}")')
            assert bench.evaluate("document.activeElement.id") == "result-keys"
            bench.keyboard.press(key)
            bench.keyboard.press("Enter")
            bench.wait_for_selector(f'[data-testid="recent-{t.code}"]')
            bench.wait_for_function("document.activeElement.id === 'scan'")
    finally:
        context.close()
    assert errors == []
    assert sorted(ReceiptDiscrepancy.objects.values_list("kind", "tube_code")) == [
        ("missing", missing.code),
        ("unexpected", stray.code),
    ]
    assert Tube.objects.get(pk=positive.pk).status == TubeStatus.RESULTED
    assert not Outcome.objects.exists()  # nothing reaches a person before release

    # The supervisor reviews (positives first) and releases the batch.
    context, review, errors = desk(browser, live_server, world, "labsupervisor_a")
    try:
        review.goto(f"/labs/{world.lab_a.public_id}/review/")
        rows = review.locator("[data-testid=review-list] tbody tr")
        assert rows.first.get_attribute("data-testid") == f"review-{positive.code}"
        review.check("#select-all")
        review.click("#release")
        review.wait_for_selector(f'[data-testid="review-{positive.code}"]', state="detached")
    finally:
        context.close()
    assert errors == []
    assert Tube.objects.get(pk=positive.pk).status == TubeStatus.RELEASED
    assert Outcome.objects.filter(current=True, state="recall").count() == 3
    assert Outcome.objects.filter(current=True, state="negative").count() == 2

    # The ward official finds the positive pool's members on the recall list.
    context, ward, errors = desk(browser, live_server, world, "ward_a")
    try:
        ward.goto("/")
        ward.click('[data-permission="view_outcomes"] a')
        ward.click(f'a:has-text("{world.campaign.name}")')
        ward.wait_for_selector("[data-testid=recall-list]")
        names = ward.locator("[data-testid=recall-row] td:first-child").all_inner_texts()
        assert sorted(names) == ["Lê Văn Gộp", "Phạm Thị Ba", "Trần Thị Dương"]
        assert ward.locator("[data-testid=recall-list]").inner_text().count(positive.code) == 3
    finally:
        context.close()
    assert errors == []
