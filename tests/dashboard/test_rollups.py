"""The counters the triggers keep equal a direct recount from the base tables."""

from __future__ import annotations

import pytest
from django.db import connection

from swabline.dashboard import services
from swabline.dashboard.models import SiteCount
from tests.dashboard.scenario import run_day

TRIGGERS = [
    f"dashboard_count_{t}_{op}"
    for t in ("tube", "sample", "tuberesult", "outcome", "person")
    for op in ("insert", "update")
]


def test_every_trigger_is_installed(db):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'dashboard_count_%%'")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        names = {row[0] for row in cursor.fetchall()}
    assert set(TRIGGERS) <= names


def test_counters_equal_a_recount_after_a_campaign_day(world):
    day = run_day(world)
    assert services.differences(world.campaign) == []
    counts = services.stored(world.campaign)
    a, b = world.site_a.pk, world.site_b.pk
    assert counts.sites[(b, "tube_open")] == 1
    assert counts.sites[(b, "tube_closed")] == 1
    assert counts.sites[(b, "tube_shipped")] == 1
    assert counts.sites[(b, "tube_received")] == 1
    assert counts.sites[(b, "tube_resulted")] == 1
    assert counts.sites[(a, "tube_rejected")] == 1
    assert counts.sites[(a, "tube_void")] == 1
    assert day.tubes["pos"].status == "released"
    # The corrected pool and the first pool: two positive pools; recall: 3 + 4 - 1.
    assert counts.sites[(a, "positive_pools")] == 2
    assert counts.sites[(a, "outcome_positive")] == 1
    assert counts.sites[(a, "outcome_recall")] == 6
    assert counts.sites[(a, "outcome_recollect")] == 4


def test_rebuild_replaces_wrong_counters_by_the_recount(world):
    run_day(world)
    want = services.recount(world.campaign)
    SiteCount.objects.filter(campaign=world.campaign).update(n=999)
    assert services.differences(world.campaign) != []
    services.rebuild_rollups(world.campaign)
    assert services.differences(world.campaign) == []
    assert services.stored(world.campaign) == want


@pytest.mark.django_db(transaction=True)
def test_raw_sql_is_counted_too(world):
    from tests.results.helpers import tube_with

    tube = tube_with(world, 2)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE sampling_tube SET status = 'shipped' WHERE id = %s", [tube.pk])
    assert services.differences(world.campaign) == []
    assert (
        SiteCount.objects.get(campaign=world.campaign, site=world.site_a, metric="tube_shipped").n
        == 1
    )


def test_the_command_checks_and_rebuilds(world):
    from io import StringIO

    from django.core.management import CommandError, call_command

    run_day(world)
    out = StringIO()
    call_command("dashboard_rollups", stdout=out)
    assert f"{world.campaign.public_id} ok" in out.getvalue()
    SiteCount.objects.filter(campaign=world.campaign, metric="samples").update(n=1)
    with pytest.raises(CommandError):
        call_command("dashboard_rollups", "--campaign", str(world.campaign.public_id), stdout=out)
    call_command("dashboard_rollups", "--rebuild", stdout=out)
    assert services.differences(world.campaign) == []
    from swabline.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="dashboard.rollups_rebuilt").count() == 1
