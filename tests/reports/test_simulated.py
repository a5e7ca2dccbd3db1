"""After a simulated campaign (recalls, a rejection, a correction), every report
figure equals a direct recount from the base tables."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from swabline.accounts.enums import Permission
from swabline.accounts.models import User
from swabline.campaigns.models import Campaign
from swabline.labs.enums import ResultState
from swabline.labs.models import TubeResult
from swabline.people.models import Person
from swabline.reports import advisor, queries, turnaround
from swabline.results.enums import OutcomeState
from swabline.results.models import Outcome
from swabline.results.queries import recall_list
from swabline.sampling.enums import SampleKind, TubeStatus
from swabline.sampling.models import Sample, Tube
from swabline.shipping.models import ShipmentTube
from tests.demo.places import demo_places

pytestmark = pytest.mark.django_db


def test_report_equals_a_recount_after_a_simulated_campaign():
    demo_places()
    call_command(
        "simulate_campaign",
        people=50,
        prevalence=0.1,
        pool_size=5,
        seed=5,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    campaign = Campaign.objects.get()
    official = User.objects.get(username=f"sim{campaign.pk}-official")
    scope = queries.report_scope(official, campaign.public_id, "", Permission.VIEW_DASHBOARD)
    assert scope.place == campaign.province
    day = campaign.starts_on  # the simulated day
    total = queries.daily(scope, day).total

    tubes = Tube.objects.filter(campaign=campaign)
    for status in TubeStatus.values:
        assert total.tubes[status] == tubes.filter(status=status).count(), status
    assert total.sampled_tubes == tubes.exclude(status=TubeStatus.VOID).count()
    assert total.registered == Person.objects.filter(ward__in=scope.wards).count() == 50
    assert total.sampled_people == 50 == total.sampled_on_day
    assert {timezone.localdate(s.collected_at) for s in Sample.objects.all()} == {day}
    assert (
        total.sampled_people
        == Sample.objects.filter(campaign=campaign, active=True, kind=SampleKind.NORMAL)
        .values("person")
        .distinct()
        .count()
    )
    current = Outcome.objects.filter(campaign=campaign, current=True)
    assert total.positive_people == current.filter(state=OutcomeState.POSITIVE).count()
    assert total.recall_pending == recall_list(official, campaign, resampled=False).count()
    assert (
        total.recollect_pending
        == recall_list(official, campaign, state=OutcomeState.RECOLLECT, resampled=False).count()
    )
    assert total.recollect_pending > 0  # the corrected pool's members, not swabbed yet
    released = TubeResult.objects.filter(
        tube__campaign=campaign, current=True, state=ResultState.RELEASED
    )
    assert total.released_on_day == released.filter(released_at__date=day).count()
    assert total.positive_pools == released.filter(value="positive", tube__kind="pool").count()
    assert total.coverage == pytest.approx(
        50 / sum(w.target_population for w in campaign.wards.all())
    )

    measured = turnaround.turnaround(scope)
    received = ShipmentTube.objects.filter(tube__campaign=campaign, received_at__isnull=False)
    assert measured.total["receipt"].count == received.count()
    assert (
        measured.total["total"].count
        == tubes.filter(results__released_at__isnull=False).distinct().count()
    )
    advice = advisor.advise(scope)
    assert advice[-1].ward is None and advice[-1].prevalence is not None
