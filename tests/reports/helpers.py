"""A small campaign day built through the real services, with every figure the
reports must show known by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swabline.campaigns.models import CampaignWard
from swabline.labs import services as labs
from swabline.labs.models import TubeResult
from swabline.people.models import Person
from swabline.results.services import release_results
from swabline.sampling.enums import SampleKind, TubeKind
from swabline.sampling.models import Tube
from swabline.shipping import services as shipping
from tests.results.helpers import tube_with
from tests.sampling.factories import people


def ship(world: Any, tubes: list[Tube]) -> None:
    """Pack, hand over and receive `tubes` (of one site) at lab A."""
    admin = world.users["admin"]
    shipment = shipping.create_shipment(by=admin, site=tubes[0].site, lab=world.lab_a)
    codes = [t.code for t in tubes]
    shipping.add_tubes(by=admin, shipment=shipment, codes=codes)
    shipping.hand_over(by=admin, shipment=shipment, courier_name="Courier")
    shipping.receive(by=admin, shipment=shipment, codes=codes)


def enter_result(world: Any, tube: Tube, value: str) -> TubeResult:
    ct = {"E": 25.0} if value == "positive" else {}
    return labs.record_result(
        by=world.users["labtech_a"], lab=world.lab_a, value=value, tube=tube, ct_values=ct
    ).result


def release(world: Any, *results: TubeResult) -> None:
    release_results(
        by=world.users["labsupervisor_a"], lab=world.lab_a, result_ids=[r.pk for r in results]
    )


@dataclass
class Day:
    negative_pool: Tube
    positive_pool: Tube
    recall_tube: Tube
    open_tube: Tube
    rejected: Tube
    positive_individual: Tube
    positive_person: Person
    not_sampled: Person


def campaign_day(world: Any) -> Day:
    """Ward A (site A): a released negative pool of 3, a released positive pool of 4
    (one of whom already has an individual recall tube, closed), an open tube of 2.
    Ward B (site B): a pool of 2 rejected by the lab, a released positive individual
    tube, and one registered person not sampled. Targets: A 20, B 10."""
    CampaignWard.objects.create(campaign=world.campaign, ward=world.ward_a, target_population=20)
    CampaignWard.objects.create(campaign=world.campaign, ward=world.ward_b, target_population=10)
    negative = tube_with(world, 3)
    positive = tube_with(world, 4)
    open_tube = tube_with(world, 2, close=False)
    ship(world, [negative, positive])
    release(
        world, enter_result(world, negative, "negative"), enter_result(world, positive, "positive")
    )
    first = positive.samples.order_by("position").first()
    assert first is not None
    recall = tube_with(
        world, [first.person], kind=TubeKind.INDIVIDUAL, sample_kind=SampleKind.RECALL
    )
    rejected = tube_with(world, 2, site=world.site_b)
    single = tube_with(world, 1, site=world.site_b, kind=TubeKind.INDIVIDUAL)
    ship(world, [rejected, single])
    shipping.reject_tube(
        by=world.users["admin"], lab=world.lab_a, code=rejected.code, reason="leaked"
    )
    release(world, enter_result(world, single, "positive"))
    [not_sampled] = people(world, 1, ward=world.ward_b)
    member = single.samples.get()
    for tube in (negative, positive, recall, open_tube, rejected, single):
        tube.refresh_from_db()
    return Day(negative, positive, recall, open_tube, rejected, single, member.person, not_sampled)
