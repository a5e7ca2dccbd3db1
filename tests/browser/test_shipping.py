"""In Chromium: a courier packs a shipment on a phone by typing codes into the focused
input (as a scanner does: the code, then Enter), hands it over and downloads the
manifest; a technician at a desktop bench receives it with the keyboard only."""

from __future__ import annotations

from typing import Any

import pytest

from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from swabline.shipping.enums import ShipmentStatus
from swabline.shipping.models import ReceiptDiscrepancy, Shipment
from tests.browser.station_helpers import log_in
from tests.shipping.helpers import tube

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def scan(page: Any, code: str) -> None:
    assert page.evaluate("document.activeElement.id") == "scan"
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def test_courier_ships_and_lab_receives(phone_page, browser, live_server, world):
    first, second, stray = tube(world), tube(world), tube(world)
    page = phone_page
    log_in(page, live_server.url, world, "courier_a")
    page.goto("/shipments/")
    page.click("#new-shipment")
    page.select_option("#lab", str(world.lab_a.public_id))
    page.click("#create")
    page.wait_for_selector("#scan")
    for t in (first, second):
        scan(page, t.code)
        page.wait_for_selector(f'[data-testid="tube-{t.code}"]')
    assert page.evaluate("document.activeElement.id") == "scan"
    assert page.input_value("#scan") == ""
    page.fill("#courier-name", "Anh Tư")
    page.click("#hand-over")
    page.wait_for_selector('#shipment-status[data-status="in_transit"]')
    with page.expect_download() as download:
        page.click("#manifest-pdf")
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    shipment = Shipment.objects.get()
    assert shipment.status == ShipmentStatus.IN_TRANSIT and shipment.courier_name == "Anh Tư"

    context = browser.new_context(
        viewport={"width": 1366, "height": 800}, locale="vi-VN", base_url=live_server.url
    )
    context.set_default_timeout(30_000)
    bench = context.new_page()
    errors: list[str] = []
    bench.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        log_in(bench, live_server.url, world, "labtech_a")
        bench.goto("/shipments/lab/")
        bench.click(f'[data-testid="receive-{shipment.public_id}"]')
        bench.wait_for_selector(f'[data-testid="missing-{first.code}"]')
        scan(bench, first.code)
        bench.wait_for_selector(f'[data-testid="found-{first.code}"]')
        scan(bench, stray.code)
        bench.wait_for_selector(f'[data-testid="unexpected-{stray.code}"]')
        assert bench.locator(f'[data-testid="missing-{second.code}"]').count() == 1
        # Keyboard only: from the scan input, Tab past its button to "Receive", then Enter.
        bench.keyboard.press("Tab")
        bench.keyboard.press("Tab")
        assert bench.evaluate("document.activeElement.id") == "receive"
        bench.keyboard.press("Enter")
        bench.wait_for_selector('#shipment-status[data-status="received"]')
    finally:
        context.close()
    assert errors == []
    assert Tube.objects.get(pk=first.pk).status == TubeStatus.RECEIVED
    assert Tube.objects.get(pk=second.pk).status == TubeStatus.SHIPPED
    assert sorted(ReceiptDiscrepancy.objects.values_list("kind", "tube_code")) == [
        ("missing", second.code),
        ("unexpected", stray.code),
    ]
