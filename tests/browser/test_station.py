"""The sampling station in Chromium on a phone viewport: a USB scanner and a fake
camera, a network drop in the middle of a pool, scan-to-confirmation latency,
duplicates, overrides, quick registration, voiding, and who may use it.

Assertions are on data (names, years, counts, rows in the database) and on
`data-testid` hooks, not on the wording of the interface.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.core.ids import uuid7_ms
from swabline.people.enums import DeclarationSource, Sex
from swabline.people.models import Person
from swabline.people.qr import encode_payload
from swabline.people.services import PersonInput, register_person
from swabline.sampling import services as sampling
from swabline.sampling.codes import display_name
from swabline.sampling.enums import SampleKind, TubeStatus
from swabline.sampling.models import Sample, StationEvent, Tube
from swabline.sampling.sync import EventIn
from tests.browser.station_helpers import (
    banner,
    count,
    log_in,
    open_station,
    p95,
    pending,
    scan,
    wait_banner,
    wait_confirmed,
    wait_count,
    wait_offline_ready,
    wait_pending,
    write_y4m,
)
from tests.conftest import CHROMIUM_ARGS, PASSWORD, World, chromium_path
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Đức", "Thu"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Khoa", "Lan", "Mai", "Nam", "Oanh"]


def make_people(world: World, count: int, *, start: int = 0) -> list[Person]:
    """`count` people registered in ward A, each with a different name and year."""
    made = []
    for i in range(start, start + count):
        name = f"{FAMILY[i % 10]} {MIDDLE[i % 6]} {GIVEN[i % 11]} {GIVEN[(i // 11) % 11]}"
        data = PersonInput(
            full_name=name,
            birth=str(1940 + i % 70),
            sex=Sex.FEMALE if i % 2 else Sex.MALE,
            ward=world.ward_a,
        )
        made.append(register_person(data=data, by=None, source=DeclarationSource.STAFF).person)
    return made


def tube_labels(world: World, count: int) -> list[str]:
    batch = sampling.generate_label_batch(
        by=world.users["admin"], campaign=world.campaign, count=count, site=world.site_a
    )
    return list(batch.labels.order_by("code").values_list("code", flat=True))


def shown(person: Person) -> tuple[str, str]:
    """What the station shows for a person once the server has answered."""
    return display_name(person.full_name), str(person.birth_year)


def hint(person: Person) -> tuple[str, str]:
    """What the station shows offline: the initials and year carried by the QR."""
    _, _, rest, _ = encode_payload(person).split(":")
    return rest[:-4], rest[-4:]


def active_samples(**filters: Any) -> list[tuple[str, str]]:
    return list(
        Sample.objects.filter(active=True, **filters)
        .order_by("tube__code", "position")
        .values_list("tube__code", "person__public_id")
    )


@pytest.fixture
def station(phone_page: Any, live_server: Any, world: World) -> Any:
    log_in(phone_page, live_server.url, world, "sampler_a")
    return phone_page


# --- (a) camera -----------------------------------------------------------------------


@pytest.fixture
def camera_page(
    playwright_driver: Any, live_server: Any, world: World, tmp_path: Any
) -> Iterator[Any]:
    """A separate Chromium whose fake camera shows the QR of a registered person."""
    path = chromium_path()
    person = make_people(world, 1)[0]
    y4m = write_y4m(tmp_path / "qr.y4m", encode_payload(person))
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
    ]
    # The session's driver: a second sync_playwright() would clash with it.
    browser = playwright_driver.chromium.launch(executable_path=path, args=args)
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="vi-VN",
        base_url=live_server.url,
        permissions=["camera"],
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, world, "sampler_a")
    page.person = person
    yield page
    browser.close()
    assert errors == []


@pytest.mark.parametrize("detector", ["zxing", "jsqr"])
def test_camera_reads_a_person_qr(camera_page, world, detector):
    page, person = camera_page, camera_page.person
    [label] = tube_labels(world, 1)
    response = open_station(page)
    # zxing-wasm compiles WebAssembly: allowed on the station page only.
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp
    page.evaluate("d => localStorage.setItem('swabline.station.detector', d)", detector)
    scan(page, label)
    wait_confirmed(page)

    page.get_by_test_id("camera-open").click()
    wait_confirmed(page, name=shown(person)[0])
    assert page.get_by_test_id("camera").get_attribute("data-detector") == detector
    assert (banner(page)["name"], banner(page)["year"]) == shown(person)
    assert count(page) == "1/10"
    page.wait_for_timeout(600)  # the QR stays in view: it is read once, not per frame
    assert active_samples() == [(label, person.public_id)]
    assert count(page) == "1/10"
    page.get_by_test_id("camera-close").click()
    assert page.get_by_test_id("camera").is_hidden()


# --- (b) USB scanner --------------------------------------------------------------


def test_usb_scanner_fills_a_pool_that_closes_itself(station, world):
    page = station
    people = make_people(world, 10)
    [label] = tube_labels(world, 1)
    open_station(page)
    assert page.get_by_test_id("station").get_attribute("data-state") == "ready"  # one site

    scan(page, label)
    wait_confirmed(page)
    assert count(page) == "0/10"
    assert Tube.objects.get(code=label).status == TubeStatus.OPEN

    # Our QR, lower case (a scanner with caps lock), then the printed human code.
    scan(page, encode_payload(people[0]).lower())
    wait_confirmed(page, name=shown(people[0])[0])
    assert (banner(page)["name"], banner(page)["year"], count(page)) == (*shown(people[0]), "1/10")
    scan(page, people[1].display_code)
    wait_confirmed(page, name=shown(people[1])[0])
    assert count(page) == "2/10"

    # A CCCD chip-card QR of someone not registered yet: registered from the card.
    card = "079061012345||Đỗ Thị Hồng Nhung|15081961|Nữ|12 Lê Lợi, Phường Tân Ninh|20042021"
    scan(page, card)
    wait_confirmed(page, name="Đỗ T. H. N.")
    assert (banner(page)["year"], count(page)) == ("1961", "3/10")
    nhung = Person.objects.get(national_id="079061012345")

    # The same person again: a notice, nothing changes.
    scan(page, encode_payload(people[0]))
    wait_banner(page, kind="dup")
    assert count(page) == "3/10"

    # Remove the last one (the card holder), before closing.
    page.get_by_test_id("remove-last").click()
    wait_count(page, "2/10")
    wait_pending(page, 0)
    assert not Sample.objects.filter(person=nhung, active=True).exists()

    for person in people[2:]:
        scan(page, encode_payload(person))
        wait_confirmed(page, name=shown(person)[0])
    assert count(page) == "10/10"
    wait_pending(page, 0)
    tube = Tube.objects.get(code=label)
    assert (tube.status, tube.member_count) == (TubeStatus.CLOSED, 10)
    assert [p for _, p in active_samples(tube=tube)] == [p.public_id for p in people]
    assert page.get_by_test_id("tube").get_attribute("data-status") == "closed"
    assert page.get_by_test_id("members").locator("li").count() == 10


# --- (c) offline ----------------------------------------------------------------------


def test_network_drop_in_the_middle_of_a_pool(station, world):
    page = station
    people = make_people(world, 30)
    labels = tube_labels(world, 3)
    open_station(page)
    wait_offline_ready(page)

    scan(page, labels[0])
    for person in people[:5]:
        scan(page, encode_payload(person))
        wait_confirmed(page, name=shown(person)[0])
    wait_pending(page, 0)

    page.context.set_offline(True)
    page.get_by_test_id("network").locator("xpath=self::*[@data-online='false']").wait_for()
    for person in people[5:8]:
        scan(page, encode_payload(person))
        wait_banner(page, name=hint(person)[0])
        assert (banner(page)["name"], banner(page)["year"]) == hint(person)
    # The phone is restarted without network: the cached station and its tube come back.
    page.reload()
    page.locator("[data-testid=station][data-ready=true]").wait_for()
    assert (count(page), pending(page)) == ("8/10", 3)
    for person in people[8:10]:
        scan(page, encode_payload(person))
        wait_banner(page, name=hint(person)[0])
    assert count(page) == "10/10"
    assert page.get_by_test_id("tube").get_attribute("data-status") == "closed"

    # Two more tubes, one of them with a quick registration of someone with nothing.
    scan(page, labels[1])
    for person in people[10:20]:
        scan(page, encode_payload(person))
        wait_banner(page, name=hint(person)[0])
    scan(page, labels[2])
    for person in people[20:25]:
        scan(page, encode_payload(person))
        wait_banner(page, name=hint(person)[0])
    quick_register(page, "Lò Văn Sáu", "02/09/1975")
    wait_banner(page, name="Lò Văn Sáu")
    page.get_by_test_id("close-tube").click()
    page.locator("[data-testid=tube][data-status=closed]").wait_for()
    waiting = pending(page)
    # Tube 1: 5 people and its automatic close; tube 2: open, 10 people, close;
    # tube 3: open, 5 people, the registered one (held for its registration), close.
    assert waiting == 6 + 12 + 8
    assert Sample.objects.filter(active=True).count() == 5

    page.context.set_offline(False)
    wait_pending(page, 0, timeout=30_000)
    sau = Person.objects.get(full_name="Lò Văn Sáu")
    expected = [p.public_id for p in people[:25]] + [sau.public_id]
    stored = [p for _, p in active_samples()]
    assert sorted(stored) == sorted(expected)  # everyone exactly once
    assert len(stored) == len(set(stored)) == 26
    assert [
        (t.code, t.status, t.member_count) for t in Tube.objects.order_by("opened_at", "id")
    ] == [
        (labels[0], TubeStatus.CLOSED, 10),
        (labels[1], TubeStatus.CLOSED, 10),
        (labels[2], TubeStatus.CLOSED, 6),
    ]
    assert page.get_by_test_id("conflicts").is_hidden()
    # The station names its events with time-ordered ids (UUID version 7): each
    # begins with the millisecond the station made it (see swabline/core/ids.py).
    ids = list(StationEvent.objects.values_list("client_event_id", "client_at"))
    assert ids and all(event_id.version == 7 for event_id, _ in ids)
    assert all(abs(uuid7_ms(event_id) - at.timestamp() * 1000) < 60_000 for event_id, at in ids)


# --- (d) latency ----------------------------------------------------------------------


def test_scan_to_confirmation_p95(station, world):
    page = station
    people = make_people(world, 30)
    labels = tube_labels(world, 3)
    open_station(page)
    wait_offline_ready(page)
    for label, group in zip(labels, (people[:10], people[10:20], people[20:]), strict=True):
        scan(page, label)
        wait_confirmed(page)
        for person in group:
            scan(page, encode_payload(person))
            wait_confirmed(page, name=shown(person)[0])
    timings = page.evaluate("window.__stationTimings")
    local, confirmed = timings["local"], timings["confirmed"]
    assert len(local) == 33 and len(confirmed) == 30
    print(
        f"\nstation scan-to-confirmation over {len(local)} USB scans: "
        f"p95 on screen {p95(local):.0f} ms, p95 confirmed by the server "
        f"{p95(confirmed):.0f} ms (median {sorted(confirmed)[len(confirmed) // 2]:.0f} ms)"
    )
    assert p95(local) <= 300
    assert p95(confirmed) <= 300
    assert len(active_samples()) == 30


# --- (e) who may, duplicates, overrides -------------------------------------------


def test_only_samplers_of_the_site_may_capture_there(phone_page, live_server, world):
    page = phone_page
    log_in(page, live_server.url, world, "courier_a")
    assert page.goto("/station/").status == 403

    page.context.clear_cookies()
    log_in(page, live_server.url, world, "sampler_a")
    assert page.goto(f"/station/?site={world.site_b.public_id}").status == 403
    open_station(page, f"/station/?site={world.site_a.public_id}")
    [label] = tube_labels(world, 1)
    answer = page.evaluate(
        """async ([site, tube]) => {
            const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).slice(10);
            const response = await fetch('/api/v1/station/events', {
                method: 'POST', credentials: 'same-origin',
                headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
                body: JSON.stringify({device_id: 'test', site, events: [{
                    id: crypto.randomUUID(), seq: 1, type: 'open_tube', at: new Date().toISOString(),
                    tube, kind: 'pool'}]}),
            });
            return response.status;
        }""",
        [str(world.site_b.public_id), label],
    )
    assert answer == 403
    assert not Tube.objects.exists()


def test_already_sampled_warns_and_override_is_deliberate(station, world, live_server):
    page = station
    [anh, binh] = make_people(world, 2)
    labels = tube_labels(world, 3)
    # Bình was sampled at site B earlier today (another station).
    sampler_b = UserFactory.create(username="sampler_b")
    accounts.assign(user=sampler_b, role=Role.SAMPLER, by=None, site=world.site_b)
    b_label = sampling.generate_label_batch(
        by=world.users["admin"], campaign=world.campaign, count=1, site=world.site_b
    ).labels.get()
    now = timezone.now()
    results = sampling.apply_events(
        by=sampler_b,
        site=world.site_b,
        device_id="station-b",
        events=[
            EventIn(id=uuid.uuid4(), type="open_tube", at=now, tube=b_label.code, kind="pool", seq=1),
            EventIn(id=uuid.uuid4(), type="add_person", at=now, tube=b_label.code,
                    scan=encode_payload(binh), seq=2),
        ],
    )  # fmt: skip
    assert [r.fate for r in results] == ["applied", "applied"]

    open_station(page)
    scan(page, labels[0])
    scan(page, encode_payload(anh))
    wait_confirmed(page, name=shown(anh)[0])
    page.get_by_test_id("close-tube").click()
    page.locator("[data-testid=tube][data-status=closed]").wait_for()
    wait_pending(page, 0)

    # Anh again, in the next tube: this station knows, and warns at once.
    scan(page, labels[1])
    scan(page, encode_payload(anh))
    wait_banner(page, kind="warn")
    assert banner(page)["name"] == hint(anh)[0]
    assert count(page) == "0/10"
    page.get_by_test_id("banner-skip").click()
    scan(page, encode_payload(anh))
    wait_banner(page, kind="warn")
    page.get_by_test_id("banner-override").click()
    dialog = page.get_by_test_id("override-dialog")
    dialog.locator("input[value=recollect]").check()
    dialog.get_by_test_id("override-submit").click()
    wait_confirmed(page, name=shown(anh)[0])
    assert count(page) == "1/10"

    # Bình: only the server knows; its warning comes back with the answer.
    scan(page, encode_payload(binh))
    wait_confirmed(page, kind="warn")
    assert banner(page)["name"] == ", ".join(shown(binh))
    assert b_label.code in banner(page)["message"]
    assert count(page) == "1/10"
    page.get_by_test_id("banner-override").click()
    dialog.locator("input[value=other]").check()
    dialog.get_by_test_id("override-submit").click()
    wait_confirmed(page, name=shown(binh)[0])
    assert count(page) == "2/10"
    wait_pending(page, 0)

    kinds = dict(
        Sample.objects.filter(active=True, tube__code=labels[1]).values_list(
            "person__public_id", "kind"
        )
    )
    assert kinds == {anh.public_id: SampleKind.RECOLLECT, binh.public_id: SampleKind.RECOLLECT}
    assert Sample.objects.filter(person=binh, active=True).count() == 2
    assert page.get_by_test_id("conflicts").is_hidden()


def test_conflict_found_on_sync_is_listed_until_resolved(station, world):
    page = station
    [chi] = make_people(world, 1)
    labels = tube_labels(world, 2)
    open_station(page)
    scan(page, labels[0])
    wait_confirmed(page)
    page.context.set_offline(True)
    scan(page, encode_payload(chi))
    wait_banner(page, name=hint(chi)[0])
    # Meanwhile Chi is sampled in another tube of this site by another station.
    now = timezone.now()
    sampling.apply_events(
        by=world.users["sampler_a"],
        site=world.site_a,
        device_id="other-phone",
        events=[
            EventIn(id=uuid.uuid4(), type="open_tube", at=now, tube=labels[1], kind="pool", seq=1),
            EventIn(id=uuid.uuid4(), type="add_person", at=now, tube=labels[1],
                    scan=encode_payload(chi), seq=2),
        ],
    )  # fmt: skip
    page.context.set_offline(False)
    conflict = page.get_by_test_id("conflict")
    conflict.wait_for()
    wait_pending(page, 0)
    assert labels[1] in conflict.get_by_test_id("conflict-message").inner_text()
    assert count(page) == "0/10"  # not silently in the tube, not silently dropped
    conflict.get_by_test_id("conflict-override").click()
    page.get_by_test_id("override-dialog").locator("input[value=recollect]").check()
    page.get_by_test_id("override-submit").click()
    wait_confirmed(page, name=shown(chi)[0])
    assert page.get_by_test_id("conflicts").is_hidden()
    wait_pending(page, 0)
    assert count(page) == "1/10"
    assert active_samples(tube__code=labels[0]) == [(labels[0], chi.public_id)]


def quick_register(page: Any, name: str, birth: str, sex: str = "M") -> None:
    page.get_by_test_id("register-open").click()
    dialog = page.get_by_test_id("register-dialog")
    dialog.locator("input[name=full_name]").fill(name)
    dialog.locator("input[name=birth]").fill(birth)
    dialog.locator(f"input[name=sex][value={sex}]").check()
    dialog.get_by_test_id("register-submit").click()


def test_quick_registration_and_voiding_a_tube(station, world):
    page = station
    people = make_people(world, 2)
    labels = tube_labels(world, 2)
    open_station(page)
    scan(page, labels[0])
    quick_register(page, "Hà Thị Mơ", "1958", sex="F")
    wait_confirmed(page, name="Hà T. M.")
    assert (banner(page)["year"], count(page)) == ("1958", "1/10")
    mo = Person.objects.get(full_name="Hà Thị Mơ")
    assert active_samples() == [(labels[0], mo.public_id)]

    scan(page, labels[1])  # another label while a tube is open: refused
    wait_banner(page, kind="warn")
    for person in people:
        scan(page, encode_payload(person))
        wait_confirmed(page, name=shown(person)[0])
    page.get_by_test_id("void-tube").click()
    dialog = page.get_by_test_id("void-dialog")
    dialog.get_by_test_id("void-submit").click()
    assert dialog.get_by_test_id("void-error").is_visible()  # a reason is required
    dialog.get_by_test_id("void-reason").fill("Ống bị đổ")
    dialog.get_by_test_id("void-submit").click()
    page.locator("[data-testid=tube][data-status=void]").wait_for()
    wait_pending(page, 0)
    tube = Tube.objects.get(code=labels[0])
    assert (tube.status, tube.voided_reason) == (TubeStatus.VOID, "Ống bị đổ")
    assert active_samples() == []

    # The same people go into the next tube: no warning, they were never sampled.
    scan(page, labels[1])
    scan(page, encode_payload(people[0]))
    wait_confirmed(page, name=shown(people[0])[0])
    assert banner(page)["kind"] == "ok"


def test_station_is_installable(station, world):
    page = station
    open_station(page)
    wait_offline_ready(page)
    manifest_url = page.locator("link[rel=manifest]").get_attribute("href")
    manifest = json.loads(page.request.get(manifest_url).text())
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == (
        "/station/",
        "/station/",
        "standalone",
    )
    assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512"}
    worker = page.request.get("/station/sw.js")
    assert worker.headers["service-worker-allowed"] == "/station/"
    assert worker.headers["content-type"].startswith("application/javascript")
    cached = page.evaluate(
        """async () => {
            const keys = [];
            for (const name of await caches.keys()) {
                for (const request of await (await caches.open(name)).keys()) {
                    keys.push(new URL(request.url).pathname);
                }
            }
            return keys;
        }"""
    )
    for path in (
        "/station/",
        "/static/station/station.js",
        "/static/vendor/barcode-detector/ponyfill.iife.js",
        "/static/vendor/zxing-wasm/zxing_reader.wasm",
        "/static/vendor/jsqr/jsQR.js",
    ):
        assert path in cached


def test_scans_wait_for_a_new_login_when_the_session_ends(station, world):
    page = station
    [dung] = make_people(world, 1)
    [label] = tube_labels(world, 1)
    open_station(page)
    wait_offline_ready(page)
    page.context.clear_cookies(name="sessionid")  # the session expired
    scan(page, label)
    scan(page, encode_payload(dung))
    wait_banner(page, name=hint(dung)[0])
    alert = page.get_by_test_id("sync-alert")
    alert.get_by_role("link").wait_for()
    assert pending(page) == 2
    assert not Tube.objects.exists()

    alert.get_by_role("link").click()
    page.locator("input[name=username]").fill("sampler_a")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url("**/station/")
    page.locator("[data-testid=station][data-ready=true]").wait_for()
    wait_pending(page, 0)
    assert alert.is_hidden()
    assert active_samples() == [(label, dung.public_id)]
    assert count(page) == "1/10"
