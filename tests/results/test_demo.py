"""The demo seed gives the lab roles work: a shipment waiting at the lab, entered
results waiting for release, a released positive pool on the ward's recall list."""

from __future__ import annotations

import pytest

from swabline.demo.seed import seed_demo
from swabline.labs.models import TubeResult
from swabline.results.models import Outcome
from swabline.results.queries import recall_list
from swabline.sampling.models import Tube
from swabline.shipping.models import Shipment
from tests.demo.places import demo_places

pytestmark = pytest.mark.django_db


def test_demo_lab_work_is_seeded_once():
    demo_places()
    world = seed_demo(people=80)
    assert sorted(Tube.objects.values_list("status", flat=True)) == [
        "released", "released", "resulted", "resulted", "shipped", "shipped",
    ]  # fmt: skip
    assert sorted(Shipment.objects.values_list("status", flat=True)) == ["in_transit", "received"]
    assert TubeResult.objects.filter(state="entered").count() == 2
    recall = recall_list(world.users["ward"], world.campaign)
    assert recall.count() == 5
    assert {o.person.ward_id for o in recall} == {world.wards[0].pk}
    assert Outcome.objects.filter(state="negative").count() == 5
    seed_demo(people=80)
    assert Tube.objects.count() == 6 and Outcome.objects.count() == 10


def test_demo_without_people_has_no_lab_work():
    demo_places()
    seed_demo(people=0)
    assert not Tube.objects.exists()
