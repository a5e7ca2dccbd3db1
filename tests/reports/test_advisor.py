"""The advisor reads the right tests per ward and recommends within the limits."""

from __future__ import annotations

import pytest

from swabline.accounts.enums import Permission
from swabline.reports import advisor, maths, queries, services
from swabline.reports.maths import TubeGroup
from tests.reports.helpers import campaign_day, enter_result, release, ship
from tests.results.helpers import tube_with

pytestmark = pytest.mark.django_db


def scope_of(world, user="province"):
    return queries.report_scope(
        world.users[user], world.campaign.public_id, "", Permission.VIEW_DASHBOARD
    )


def by_code(advice):
    return {a.ward.code if a.ward else "all": a for a in advice}


def test_groups_leave_out_recall_tubes_and_invalid_results(world):
    day = campaign_day(world)
    # The recall tube of ward A is released positive: it must not count.
    ship(world, [day.recall_tube])
    release(world, enter_result(world, day.recall_tube, "positive"))
    invalid = tube_with(world, 5)
    ship(world, [invalid])
    release(world, enter_result(world, invalid, "invalid"))
    groups = advisor.groups_by_ward(scope_of(world))
    assert sorted(groups[world.ward_a.pk], key=lambda g: g.size) == [
        TubeGroup(3, 1, 0),
        TubeGroup(4, 1, 1),
    ]
    assert groups[world.ward_b.pk] == [TubeGroup(1, 1, 1)]  # the positive individual tube


def test_advice_per_ward_and_overall(world):
    campaign_day(world)
    advice = by_code(advisor.advise(scope_of(world), {}))
    a = advice[world.ward_a.code]
    # L(q) = q³ (1 − q⁴) with q = 1 − p: L′ = 3q² − 7q⁶ = 0 → q⁴ = 3/7.
    expected = 1 - (3 / 7) ** 0.25
    assert a.prevalence == pytest.approx(expected, abs=1e-9)
    assert (a.tubes, a.positive_tubes, a.people_tested) == (2, 1, 7)
    assert a.recommended == maths.best_size([1, 3, 5, 10], expected)
    assert [o.size for o in a.options] == [1, 3, 5, 10]
    assert a.options[0].tests_saved == 0
    overall = advice["all"]
    assert overall.tubes == 3 and overall.people_tested == 8
    # No test at all: nothing to recommend.
    empty = advisor.advise(scope_of(world, "ward_b"), {})
    assert empty[0].ward == world.ward_b and empty[0].prevalence == 1.0


def test_no_results_no_advice(world):
    [ward_a, overall] = advisor.advise(scope_of(world, "ward_a"), {world.ward_a.pk: 500})
    assert ward_a.prevalence is None and ward_a.recommended is None and ward_a.options == []
    assert overall.prevalence is None


def test_sizes_never_above_the_campaign_limit(world):
    services.set_pool_sizes(by=world.users["province"], campaign=world.campaign, sizes=[3, 5, 10])
    world.campaign.pool_size_limit = 5
    world.campaign.save(update_fields=["pool_size_limit"])
    assert advisor.sizes_for(world.campaign) == [1, 3, 5]
    # Nothing positive anywhere: the biggest allowed pool.
    negative = tube_with(world, 5)
    ship(world, [negative])
    release(world, enter_result(world, negative, "negative"))
    ward_a = by_code(advisor.advise(scope_of(world), {}))[world.ward_a.code]
    assert ward_a.prevalence == 0.0 and ward_a.recommended == 5


def test_prices_for_the_target_population(world):
    positive = tube_with(world, 10)
    negatives = [tube_with(world, 10) for _ in range(3)]
    ship(world, [positive, *negatives])
    release(
        world,
        enter_result(world, positive, "positive"),
        *[enter_result(world, t, "negative") for t in negatives],
    )
    ward_a = by_code(advisor.advise(scope_of(world), {world.ward_a.pk: 2000}))[world.ward_a.code]
    p = 1 - 0.75**0.1
    assert ward_a.prevalence == pytest.approx(p)
    by_size = {o.size: o for o in ward_a.options}
    assert by_size[10].recalled == pytest.approx(2000 * (1 - (1 - p) ** 10))
    assert by_size[5].tests_saved == pytest.approx(2000 * (1 - maths.expected_tests(5, p)))
