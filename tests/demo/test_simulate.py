"""`manage.py simulate_campaign` drives a campaign through the real services."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from swabline.audit.models import AuditEvent
from swabline.campaigns.models import Campaign
from swabline.labs.enums import ResultState, ResultValue
from swabline.labs.models import TubeResult
from swabline.people.models import Person
from swabline.results.enums import OutcomeState
from swabline.results.models import Outcome
from swabline.sampling.enums import SampleKind, TubeKind, TubeStatus
from swabline.sampling.models import Sample, Tube
from swabline.shipping.models import Shipment, TubeRejection
from tests.demo.places import demo_places

pytestmark = pytest.mark.django_db


def run(**options: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("simulate_campaign", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def signature(campaign: Campaign) -> list[Any]:
    """What a seed decides: per tube (in label order of appearance), its kind,
    members by name and year, and its final result."""
    rows: list[Any] = []
    for tube in Tube.objects.filter(campaign=campaign).order_by("opened_at", "id"):
        members = sorted(
            Sample.objects.filter(tube=tube).values_list("person__full_name", "person__birth_year")
        )
        result = tube.results.filter(current=True).values_list("value", flat=True).first()
        rows.append((tube.kind, tube.status, tuple(members), result))
    return rows


def test_simulation_runs_the_whole_chain():
    demo_places()
    out, err = run(people=60, prevalence=0.08, pool_size=5, seed=7)
    campaign = Campaign.objects.get()
    assert f"Campaign {campaign.pk}" in out
    assert "register" in err and "60/60" in err and "release" in err  # the progress line
    assert Person.objects.count() == 60
    normal = Sample.objects.filter(campaign=campaign, kind=SampleKind.NORMAL, active=True)
    assert normal.count() == 60
    # Pools of at most 5, shipped, received and released, except the one rejected.
    pools = Tube.objects.filter(campaign=campaign, kind=TubeKind.POOL, is_recall=False)
    assert all(t.member_count <= 5 for t in pools)
    assert TubeRejection.objects.count() == 1
    assert Tube.objects.filter(campaign=campaign, status=TubeStatus.REJECTED).count() == 1
    assert not Tube.objects.filter(
        campaign=campaign, status__in=[TubeStatus.OPEN, TubeStatus.CLOSED, TubeStatus.SHIPPED]
    ).exists()
    assert Shipment.objects.filter(campaign=campaign, received_at__isnull=False).exists()
    # Every member of a positive pool came back for an individual recall tube.
    positive_pools = TubeResult.objects.filter(
        tube__campaign=campaign, tube__kind=TubeKind.POOL, value=ResultValue.POSITIVE
    )
    assert positive_pools.exists()
    recalled = set(
        Sample.objects.filter(tube__results__in=positive_pools, active=True).values_list(
            "person_id", flat=True
        )
    )
    recall_samples = Sample.objects.filter(campaign=campaign, kind=SampleKind.RECALL)
    assert set(recall_samples.values_list("person_id", flat=True)) == recalled
    assert recall_samples.count() == len(recalled)
    assert all(t.kind == TubeKind.INDIVIDUAL for t in Tube.objects.filter(is_recall=True))
    # The rejected tube's people were swabbed again.
    rejected = Tube.objects.get(campaign=campaign, status=TubeStatus.REJECTED)
    again = Sample.objects.filter(
        campaign=campaign,
        kind=SampleKind.RECOLLECT,
        person__in=rejected.samples.values("person"),
    )
    assert again.count() == rejected.member_count
    # One correction: a superseded result and the audit trail of it.
    assert TubeResult.objects.filter(state=ResultState.SUPERSEDED).count() == 1
    assert AuditEvent.objects.filter(action="results.amended").count() == 1
    # Outcomes reached everyone: nobody is left without a decided outcome.
    decided = Outcome.objects.filter(campaign=campaign, current=True)
    assert decided.count() == 60
    assert not decided.filter(state=OutcomeState.RECALL).exists()


def test_same_seed_same_campaign():
    demo_places()
    run(people=30, prevalence=0.1, pool_size=3, seed=11)
    run(people=30, prevalence=0.1, pool_size=3, seed=11)
    first, second = Campaign.objects.order_by("pk")
    assert signature(first) == signature(second)


def test_unknown_province_is_refused():
    with pytest.raises(CommandError, match="load_places"):
        run(people=5, prevalence=0.1, pool_size=5, province="99")


def test_the_simulated_day_is_over_and_on_one_date():
    import datetime as dt
    import zoneinfo

    from swabline.demo.simulate import day_start

    saigon = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")
    morning = dt.datetime(2026, 3, 10, 9, 30, tzinfo=saigon)
    evening = dt.datetime(2026, 3, 10, 20, 0, tzinfo=saigon)
    assert day_start(morning) == dt.datetime(2026, 3, 9, 7, 0, tzinfo=saigon)
    assert day_start(evening) == dt.datetime(2026, 3, 10, 7, 0, tzinfo=saigon)


def test_individual_testing_has_no_recalls():
    demo_places()
    out, _err = run(people=12, prevalence=0.5, pool_size=1, seed=3)
    campaign = Campaign.objects.get()
    assert campaign.pool_size_limit == 1
    tubes = Tube.objects.filter(campaign=campaign)
    assert set(tubes.values_list("kind", flat=True)) == {TubeKind.INDIVIDUAL}
    assert not Sample.objects.filter(campaign=campaign, kind=SampleKind.RECALL).exists()
    positives = Outcome.objects.filter(
        campaign=campaign, current=True, state=OutcomeState.POSITIVE
    ).count()
    assert positives > 0 and f"{positives} positive people" in out
