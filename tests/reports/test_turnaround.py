"""Turnaround medians and p90s against a hand computation, on SQLite (Python
interpolation) and PostgreSQL (percentile_cont) alike."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from swabline.accounts.enums import Permission
from swabline.labs.models import TubeResult
from swabline.notifications.enums import Status
from swabline.notifications.models import Notification
from swabline.reports import queries, turnaround
from swabline.sampling.models import Sample, Tube
from swabline.shipping.models import ShipmentTube
from tests.reports.helpers import enter_result, release, ship
from tests.results.helpers import tube_with

pytestmark = pytest.mark.django_db
HOUR = 3600.0
T0 = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)


def timed(tube: Tube, receipt_h: float, result_h: float, release_h: float) -> None:
    """Set the tube's times to T0 (swab) + the given hours (test data, as a lab
    would have recorded them)."""
    Sample.objects.filter(tube=tube).update(collected_at=T0)
    ShipmentTube.objects.filter(tube=tube).update(received_at=T0 + dt.timedelta(hours=receipt_h))
    TubeResult.objects.filter(tube=tube).update(
        entered_at=T0 + dt.timedelta(hours=result_h),
        released_at=T0 + dt.timedelta(hours=release_h),
    )


def test_medians_and_p90_by_hand(world, django_assert_max_num_queries):
    # Ward A: receipts after 1, 2 and 4 hours; ward B: after 3 and 5 hours.
    a = [tube_with(world, 2) for _ in range(3)]
    b = [tube_with(world, 1, site=world.site_b) for _ in range(2)]
    ship(world, a)
    ship(world, b)
    release(world, *[enter_result(world, t, "negative") for t in a + b])
    plan = {
        a[0]: (1, 2, 3),
        a[1]: (2, 3, 5),
        a[2]: (4, 6, 7),
        b[0]: (3, 4, 4.5),
        b[1]: (5, 8, 9),
    }
    for tube, hours in plan.items():
        timed(tube, *hours)
    # Everyone in ward A was told 10 hours after the swab, in ward B after 12 and 20.
    told = Notification.objects.filter(outcome__tube__in=a + b)
    assert told.count() >= 7  # SMS per person (all have phones)
    for tube in a:
        told.filter(outcome__tube=tube).update(
            status=Status.DELIVERED, delivered_at=T0 + dt.timedelta(hours=10)
        )
    told.filter(outcome__tube=b[0]).update(
        status=Status.DELIVERED, delivered_at=T0 + dt.timedelta(hours=12)
    )
    told.filter(outcome__tube=b[1]).update(
        status=Status.DELIVERED, delivered_at=T0 + dt.timedelta(hours=20)
    )

    scope = queries.report_scope(
        world.users["province"], world.campaign.public_id, "", Permission.VIEW_DASHBOARD
    )
    with django_assert_max_num_queries(2):
        result = turnaround.turnaround(scope)
    wards = {w.code: stats for w, stats in result.wards}
    ward_a, ward_b = wards[world.ward_a.code], wards[world.ward_b.code]
    # Ward A receipt: 1, 2, 4 h → median 2 h; p90 at 0.9 × 2 = 1.8 → 2 + 0.8 × 2 = 3.6 h.
    assert ward_a["receipt"].count == 3
    assert ward_a["receipt"].median == pytest.approx(2 * HOUR, abs=1)
    assert ward_a["receipt"].p90 == pytest.approx(3.6 * HOUR, abs=1)
    # Receipt → result: 1, 1, 2 h → median 1 h, p90 1 + 0.8 × 1 = 1.8 h.
    assert ward_a["result"].median == pytest.approx(HOUR, abs=1)
    assert ward_a["result"].p90 == pytest.approx(1.8 * HOUR, abs=1)
    # Result → release: 1, 2, 1 h; sample → release: 3, 5, 7 h.
    assert ward_a["release"].median == pytest.approx(HOUR, abs=1)
    assert ward_a["total"].median == pytest.approx(5 * HOUR, abs=1)
    assert ward_a["total"].p90 == pytest.approx(6.6 * HOUR, abs=1)
    # Notified: six people, all after 10 h.
    assert ward_a["notified"].count == 6
    assert ward_a["notified"].median == pytest.approx(10 * HOUR, abs=1)
    # Ward B receipt: 3, 5 h → median 4 h, p90 3 + 0.9 × 2 = 4.8 h; notified 12, 20 h.
    assert ward_b["receipt"].median == pytest.approx(4 * HOUR, abs=1)
    assert ward_b["receipt"].p90 == pytest.approx(4.8 * HOUR, abs=1)
    assert ward_b["notified"].median == pytest.approx(16 * HOUR, abs=1)
    assert ward_b["notified"].p90 == pytest.approx(19.2 * HOUR, abs=1)
    # All five tubes: receipts 1, 2, 3, 4, 5 h → median 3 h, p90 4.6 h; one lab.
    assert result.total["receipt"].median == pytest.approx(3 * HOUR, abs=1)
    assert result.total["receipt"].p90 == pytest.approx(4.6 * HOUR, abs=1)
    [(lab, lab_stats)] = result.labs
    assert lab == world.lab_a
    assert lab_stats["receipt"] == result.total["receipt"]


def test_ward_official_measures_only_their_ward(world):
    a = tube_with(world, 1)
    b = tube_with(world, 1, site=world.site_b)
    ship(world, [a])
    ship(world, [b])
    scope = queries.report_scope(
        world.users["ward_b"], world.campaign.public_id, "", Permission.VIEW_DASHBOARD
    )
    result = turnaround.turnaround(scope)
    assert [w for w, _s in result.wards] == [world.ward_b]
    assert result.total["receipt"].count == 1
    assert "result" not in result.total  # nothing tested yet


def test_nothing_measured_yet(world):
    scope = queries.report_scope(
        world.users["province"], world.campaign.public_id, "", Permission.VIEW_DASHBOARD
    )
    result = turnaround.turnaround(scope)
    assert result.total == {} and result.labs == []


def test_format_duration():
    assert turnaround.format_duration(None) == "—"
    assert turnaround.format_duration(7 * HOUR + 40 * 60) == "7 h 40 min"
    assert turnaround.format_duration(25 * 60 + 10) == "25 min"
    assert turnaround.format_duration(51 * HOUR) == "2 d 3 h"
    assert turnaround.format_duration(-120) == "−2 min"
    assert timezone.is_aware(T0)


def test_a_message_that_never_reached_the_handset_does_not_count(world):
    tube = tube_with(world, 2)
    ship(world, [tube])
    release(world, enter_result(world, tube, "negative"))
    timed(tube, 1, 2, 3)
    told = Notification.objects.filter(outcome__tube=tube)
    told.update(status=Status.DELIVERED, delivered_at=T0 + dt.timedelta(hours=4))
    first = told.order_by("id").first()
    assert first is not None
    # The gateway's receipt said it failed: still a delivered_at, but not delivered.
    told.filter(outcome=first.outcome).update(status=Status.PERMANENT_FAILURE)
    scope = queries.report_scope(
        world.users["province"], world.campaign.public_id, "", Permission.VIEW_DASHBOARD
    )
    assert turnaround.turnaround(scope).total["notified"].count == 1
