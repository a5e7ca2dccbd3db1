"""The daily figures, scoping and the positive list against a day counted by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from django.http import Http404
from django.utils import timezone

from swabline.accounts.enums import Permission
from swabline.reports import queries
from swabline.sampling.models import Sample
from tests.factories import CampaignFactory
from tests.reports.helpers import campaign_day

pytestmark = pytest.mark.django_db
DASH = Permission.VIEW_DASHBOARD


def test_daily_figures_match_the_hand_count(world, django_assert_max_num_queries):
    day = campaign_day(world)
    scope = queries.report_scope(world.users["province"], world.campaign.public_id, "", DASH)
    assert scope.place == world.province
    assert scope.wards == sorted([world.ward_a, world.ward_b], key=lambda w: w.name)
    with django_assert_max_num_queries(6):
        report = queries.daily(scope, timezone.localdate())
    rows = {ward.code: figures for ward, figures in report.rows}
    a, b = rows[world.ward_a.code], rows[world.ward_b.code]
    assert (a.target, a.registered, a.sampled_people, a.sampled_tubes) == (20, 9, 9, 4)
    assert {k: v for k, v in a.tubes.items() if v} == {"open": 1, "closed": 1, "released": 2}
    assert (a.positive_pools, a.positive_people, a.recall_pending, a.recollect_pending) == (
        1,
        0,
        3,
        0,
    )
    assert a.coverage == pytest.approx(0.45)
    assert (a.sampled_on_day, a.released_on_day) == (9, 2)

    assert (b.target, b.registered, b.sampled_people, b.sampled_tubes) == (10, 4, 3, 2)
    assert {k: v for k, v in b.tubes.items() if v} == {"rejected": 1, "released": 1}
    assert (b.positive_pools, b.positive_people, b.recall_pending, b.recollect_pending) == (
        0,
        1,
        0,
        2,
    )
    assert b.coverage == pytest.approx(0.3)
    assert (b.sampled_on_day, b.released_on_day) == (3, 1)

    total = report.total
    assert (total.target, total.registered, total.sampled_people, total.sampled_tubes) == (
        30,
        13,
        12,
        6,
    )
    assert total.tubes["released"] == 3 and total.tubes["rejected"] == 1
    assert (total.positive_people, total.recall_pending, total.recollect_pending) == (1, 3, 2)
    assert total.coverage == pytest.approx(0.4)
    assert day.not_sampled.ward == world.ward_b


def test_day_columns_count_only_that_local_day(world):
    campaign_day(world)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    # Two of ward A's swabs were taken just before local midnight yesterday.
    start, _end = queries.day_bounds(yesterday)
    moved = Sample.objects.filter(tube__site=world.site_a, active=True).order_by("id")[:2]
    Sample.objects.filter(pk__in=[s.pk for s in moved]).update(
        collected_at=start + dt.timedelta(hours=23, minutes=59)
    )
    scope = queries.report_scope(world.users["province"], world.campaign.public_id, "", DASH)
    before = {w.code: f for w, f in queries.daily(scope, yesterday).rows}
    today = {w.code: f for w, f in queries.daily(scope, timezone.localdate()).rows}
    assert before[world.ward_a.code].sampled_on_day == 2
    assert today[world.ward_a.code].sampled_on_day == 7
    assert before[world.ward_a.code].released_on_day == 0


def test_ward_official_sees_only_their_ward(world):
    campaign_day(world)
    scope = queries.report_scope(world.users["ward_a"], world.campaign.public_id, "", DASH)
    assert scope.place == world.ward_a and scope.wards == [world.ward_a]
    report = queries.daily(scope, timezone.localdate())
    assert [w for w, _f in report.rows] == [world.ward_a]
    assert report.total.sampled_people == 9 and report.total.registered == 9
    for place in (world.ward_b.code, world.province.code):
        with pytest.raises(Http404):
            queries.report_scope(world.users["ward_a"], world.campaign.public_id, place, DASH)


def test_campaigns_of_another_province_are_not_found(world):
    elsewhere = CampaignFactory.create(province=world.other_province)
    assert list(queries.campaigns_for(world.users["province"], DASH)) == [world.campaign]
    assert set(queries.campaigns_for(world.users["admin"], DASH)) == {world.campaign, elsewhere}
    with pytest.raises(Http404):
        queries.report_scope(world.users["province"], elsewhere.public_id, "", DASH)
    with pytest.raises(Http404):
        queries.report_scope(
            world.users["province"], world.campaign.public_id, world.ward_c.code, DASH
        )
    with pytest.raises(Http404):
        queries.report_scope(world.users["sampler_a"], world.campaign.public_id, "", DASH)


def test_positive_list_is_scoped(world):
    day = campaign_day(world)
    perms = (Permission.VIEW_OUTCOMES, Permission.EXPORT_DATA)
    everywhere = queries.report_scope(world.users["province"], world.campaign.public_id, "", *perms)
    assert [o.person for o in queries.positives(everywhere)] == [day.positive_person]
    ward_a = queries.report_scope(world.users["ward_a"], world.campaign.public_id, "", *perms)
    assert list(queries.positives(ward_a)) == []
    with pytest.raises(Http404):  # data entry may export, but not see outcomes
        queries.report_scope(world.users["dataentry_a"], world.campaign.public_id, "", *perms)
