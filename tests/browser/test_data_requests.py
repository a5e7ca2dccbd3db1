"""In Chromium on a phone: a ward official finds a person from the home page, records
an erasure request with its reason, is stopped by a wrong code, confirms with the
right one, and sees the request done; an official of another ward cannot open it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from swabline.audit.models import AuditEvent
from swabline.people.models import DataRequest
from swabline.people.retention import PSEUDONYM
from tests.browser.station_helpers import log_in
from tests.factories import PersonFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_official_records_and_confirms_an_erasure(phone_page, live_server, world):
    person = PersonFactory.create(ward=world.ward_a, full_name="Phan Thị Thu Trang")
    page = phone_page
    log_in(page, live_server.url, world, "ward_a")

    page.goto("/")
    page.locator("[data-permission=handle_data_requests] a").click()
    page.locator("#q").fill(person.display_code)
    page.locator("form.search button[type=submit]").click()
    expect(page.get_by_test_id("request-people")).to_contain_text("Phan Thị Thu Trang")
    page.get_by_test_id("record-request").click()

    page.locator("input[name=kind][value=erasure]").check()
    page.locator("textarea[name=reason]").fill("Đơn đề nghị ngày 30/11/2026")
    page.get_by_test_id("request-save").click()
    expect(page.get_by_test_id("erase-form")).to_be_visible()
    [request] = DataRequest.objects.all()
    assert request.reason == "Đơn đề nghị ngày 30/11/2026"

    page.get_by_test_id("erase-code").fill("AAAA-AAAA")
    page.get_by_test_id("erase").click()
    expect(page.get_by_test_id("request-problem")).to_be_visible()
    person.refresh_from_db()
    assert person.pseudonymised_at is None

    page.get_by_test_id("erase-code").fill(person.display_code)
    page.get_by_test_id("erase").click()
    expect(page.get_by_test_id("erase-form")).to_have_count(0)
    expect(page.get_by_test_id("request-status")).to_contain_text("ward_a")
    person.refresh_from_db()
    assert person.full_name == PSEUDONYM
    assert AuditEvent.objects.filter(action="people.erase", subject_id=str(person.pk)).exists()

    other = phone_page.context.browser.new_context(base_url=live_server.url)
    try:
        other_page = other.new_page()
        log_in(other_page, live_server.url, world, "ward_b")
        response = other_page.goto(f"/people/requests/{request.public_id}/")
        assert response is not None and response.status == 404
    finally:
        other.close()
