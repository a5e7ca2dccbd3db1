"""A citizen on a phone looks up a released negative result and sees its timeline;
the page stays under 100 KB with everything the browser loads."""

from __future__ import annotations

from typing import Any

import pytest

from swabline.results.models import Outcome
from tests.lookup.helpers import BORN, person
from tests.results.helpers import released

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
BUDGET = 100 * 1024


def _weigh(page: Any) -> list[tuple[str, int]]:
    """Bytes of every response the page loads (HTML, CSS, JS, fonts, images)."""
    loaded: list[tuple[str, int]] = []

    def on_response(response: Any) -> None:
        if 200 <= response.status < 300:
            loaded.append((response.url, len(response.body())))

    page.on("response", on_response)
    return loaded


def test_citizen_looks_up_a_negative_result_on_a_phone(phone_page, world):
    p = person(world, full_name="Nguyễn Thị Bích Ngọc")
    released(world, "negative", [p])
    outcome = Outcome.objects.get(person=p, current=True)
    page = phone_page
    loaded = _weigh(page)

    page.goto("/lookup/")
    page.wait_for_load_state("networkidle")
    form_weight = sum(size for _, size in loaded)
    assert form_weight <= BUDGET, loaded
    assert page.locator("html").get_attribute("lang") == "vi"
    # Big enough for older eyes and thumbs.
    font_px = page.locator("#id_identifier").evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    height = page.locator("#id_identifier").evaluate("e => e.getBoundingClientRect().height")
    assert font_px >= 20 and height >= 48

    page.locator("#id_identifier").fill(p.display_code.lower().replace("-", " "))
    page.locator("#id_day").fill(str(BORN.day))
    page.locator("#id_month").fill(str(BORN.month))
    page.locator("#id_year").fill(str(BORN.year))
    loaded.clear()
    page.get_by_test_id("lookup-submit").click()
    page.wait_for_url("**/lookup/result/")
    page.wait_for_load_state("networkidle")

    card = page.get_by_test_id(f"person-{p.display_code}")
    assert card.get_by_role("heading", name="Nguyễn Thị Bích Ngọc").is_visible()
    state = card.get_by_test_id("state")
    assert state.inner_text() == "Âm tính"
    assert "state-negative" in (state.get_attribute("class") or "")
    steps = card.locator("[data-step]")
    assert [steps.nth(i).get_attribute("data-step") for i in range(steps.count())] == [
        "registered", "sampled", "at_lab", "result",
    ]  # fmt: skip
    assert world.site_a.name in steps.nth(1).inner_text()
    link = card.get_by_test_id("certificate")
    assert link.get_attribute("href") == f"/certificates/{outcome.pk}.pdf"
    # Fits the phone's width: nothing scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    result_weight = sum(size for _, size in loaded)
    assert result_weight <= BUDGET, loaded

    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()
    assert card.is_visible()


def test_wrong_date_shows_one_message(phone_page, world):
    p = person(world)
    page = phone_page
    page.goto("/lookup/")
    page.locator("#id_identifier").fill(p.display_code)
    page.locator("#id_day").fill("1")
    page.locator("#id_month").fill("1")
    page.locator("#id_year").fill("1990")
    page.get_by_test_id("lookup-submit").click()
    assert page.get_by_test_id("lookup-problem").is_visible()
    assert page.locator("#id_identifier").input_value() == p.display_code
