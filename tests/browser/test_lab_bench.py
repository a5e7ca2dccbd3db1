"""The lab bench in Chromium on a desktop: a technician enters a rack of tubes with
the keyboard only (code + Enter, one result key, Tab to a Ct, Enter), undoes one
entry, and a supervisor releases the batch. Assertions on ids and the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from swabline.labs.enums import ResultState
from swabline.labs.models import TubeResult
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from tests.browser.station_helpers import log_in
from tests.conftest import World
from tests.labs.helpers import received_tubes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk(browser: Any, live_server: Any) -> Iterator[Any]:
    """A desktop page (the bench PC), speaking Vietnamese; fails on console errors."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="vi-VN", base_url=live_server.url
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
    yield page
    context.close()
    assert errors == []


def focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def enter_by_keyboard(page: Any, code: str, key: str, ct: str = "") -> None:
    assert focused(page) == "scan"
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    page.wait_for_selector(f'#tube-panel [data-tube="{code}"]')
    assert focused(page) == "result-keys"
    page.keyboard.press(key)
    if ct:
        page.keyboard.press("Tab")
        page.keyboard.type(ct)
    page.keyboard.press("Enter")
    page.wait_for_selector(f'#recent [data-testid="recent-{code}"]')
    page.wait_for_selector("#scan:focus")


def test_a_rack_by_keyboard_then_release(desk: Any, live_server: Any, world: World) -> None:
    tubes = received_tubes(world, 4)
    log_in(desk, live_server.url, world, "labtech_a")
    desk.goto(f"/labs/{world.lab_a.public_id}/entry/")
    desk.wait_for_selector("#scan:focus")
    keys = ["n", "+", "*", "-"]
    for tube, key in zip(tubes, keys, strict=True):
        enter_by_keyboard(desk, tube.code, key, ct="24,5" if key == "+" else "")
    values = dict(TubeResult.objects.values_list("tube__code", "value"))
    assert values == {
        tubes[0].code: "negative", tubes[1].code: "positive",
        tubes[2].code: "invalid", tubes[3].code: "negative",
    }  # fmt: skip
    assert TubeResult.objects.get(tube=tubes[1]).ct_values["E"] == 24.5

    # A contradiction is refused until R (replace) is pressed; then Enter saves.
    desk.keyboard.type(tubes[3].code)
    desk.keyboard.press("Enter")
    desk.wait_for_selector('[data-testid="current-result"]')
    desk.keyboard.press("p")
    desk.keyboard.press("Enter")
    desk.wait_for_selector("#replace-box:not([hidden])")
    desk.keyboard.press("r")
    desk.keyboard.press("Enter")
    desk.wait_for_selector("#scan:focus")
    assert TubeResult.objects.get(tube=tubes[3], current=True).value == "positive"

    # Undo the invalid one before release: the tube goes back on the worklist.
    desk.click(f'[data-testid="undo-{tubes[2].code}"]')
    desk.wait_for_selector(f'[data-testid="recent-{tubes[2].code}"].state-discarded')
    assert not TubeResult.objects.filter(tube=tubes[2], current=True).exists()

    # The supervisor reviews (positives first) and releases everything entered.
    supervisor = desk.context.browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="vi-VN", base_url=live_server.url
    )
    page = supervisor.new_page()
    log_in(page, live_server.url, world, "labsupervisor_a")
    page.goto(f"/labs/{world.lab_a.public_id}/review/")
    rows = page.locator('[data-testid="review-list"] tbody tr').evaluate_all(
        "rows => rows.map(r => r.dataset.testid)"
    )
    assert rows[:2] == [f"review-{tubes[1].code}", f"review-{tubes[3].code}"]
    page.check("#select-all")
    page.click("#release")
    page.wait_for_selector(".messages .success")
    supervisor.close()
    released = TubeResult.objects.filter(state=ResultState.RELEASED)
    assert sorted(r.tube.code for r in released) == sorted(
        t.code for t in (tubes[0], tubes[1], tubes[3])
    )
    assert Tube.objects.get(pk=tubes[2].pk).status == TubeStatus.RESULTED
    assert Tube.objects.get(pk=tubes[0].pk).status == TubeStatus.RELEASED
