"""A campaign day through the real services, at two sites, with every kind of event
the counters must follow: pools negative, positive (recall, then individual recall
tubes), invalid (recollect, then swabbed again), a cancelled tube, an undone scan,
a shipment received with a tube rejected, a correction, and tubes left waiting at
each step (the backlog)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from swabline.campaigns.models import CampaignWard
from swabline.labs import services as labs
from swabline.results import services as results
from swabline.sampling import services as sampling
from swabline.sampling.enums import SampleKind, TubeKind, TubeStatus
from swabline.sampling.models import Tube
from swabline.shipping import services as shipping
from tests.results.helpers import release, tube_with
from tests.sampling.factories import people


@dataclass
class Day:
    tubes: dict[str, Tube] = field(default_factory=dict)


def ship(world: Any, tubes: list[Tube], *, receive: bool = True) -> None:
    """Pack `tubes` (all of one site) into a shipment to lab A, hand it over and,
    unless `receive` is False, receive it."""
    courier = world.users["admin"]
    site = tubes[0].site
    shipment = shipping.create_shipment(by=courier, site=site, lab=world.lab_a)
    shipping.add_tubes(by=courier, shipment=shipment, codes=[t.code for t in tubes])
    shipping.hand_over(by=courier, shipment=shipment)
    if receive:
        shipping.receive(
            by=world.users["labtech_a"], shipment=shipment, codes=[t.code for t in tubes]
        )


def result(world: Any, tube: Tube, value: str) -> Any:
    return labs.record_result(
        by=world.users["labtech_a"], lab=world.lab_a, value=value, tube=tube
    ).result


def run_day(world: Any) -> Day:
    day = Day()
    CampaignWard.objects.create(campaign=world.campaign, ward=world.ward_a, target_population=40)
    CampaignWard.objects.create(campaign=world.campaign, ward=world.ward_b, target_population=25)
    # Site A: three pools that go all the way.
    neg = tube_with(world, 4)
    pos = tube_with(world, 3)
    inv = tube_with(world, 2)
    rej = tube_with(world, 2)
    ship(world, [neg, pos, inv, rej])
    shipping.reject_tube(
        by=world.users["labtech_a"], lab=world.lab_a, code=rej.code, reason="leaked"
    )
    r_neg, r_pos, r_inv = (
        result(world, t, v) for t, v in ((neg, "negative"), (pos, "positive"), (inv, "invalid"))
    )
    release(world, r_neg, r_pos, r_inv)
    # Two of the recalled people get individual recall tubes: one positive, one waits.
    recalled = [s.person for s in pos.samples.order_by("position")]
    r1 = tube_with(world, [recalled[0]], kind=TubeKind.INDIVIDUAL, sample_kind=SampleKind.RECALL)
    ship(world, [r1])
    release(world, result(world, r1, "positive"))
    tube_with(world, [recalled[1]], kind=TubeKind.INDIVIDUAL, sample_kind=SampleKind.RECALL)
    # An invalid pool's member swabbed again.
    again = inv.samples.order_by("position")[0].person
    tube_with(world, [again], sample_kind=SampleKind.RECOLLECT, close=False)
    # A correction: the negative pool was positive after all.
    r_neg.refresh_from_db()
    results.amend_result(
        by=world.users["labsupervisor_a"], result=r_neg, value="positive", reason="Nhầm giếng"
    )
    # A cancelled tube and an undone scan.
    void = tube_with(world, 2, close=False)
    sampling.void_tube(by=world.users["admin"], tube=void, at=timezone.now(), event_id=uuid.uuid4())
    undo = tube_with(world, 3, close=False)
    sampling.remove_last_person(
        by=world.users["admin"], tube=undo, at=timezone.now(), event_id=uuid.uuid4()
    )
    # Site B: a backlog at every step.
    b = world.site_b
    day.tubes["open"] = tube_with(world, 2, site=b, close=False)
    day.tubes["closed"] = tube_with(world, 2, site=b)
    day.tubes["shipped"] = tube_with(world, 2, site=b)
    ship(world, [day.tubes["shipped"]], receive=False)
    day.tubes["received"] = tube_with(world, 2, site=b)
    day.tubes["resulted"] = tube_with(world, 3, site=b)
    ship(world, [day.tubes["received"], day.tubes["resulted"]])
    result(world, day.tubes["resulted"], "negative")
    day.tubes["pos"] = pos
    people(world, 5, ward=world.ward_b)  # registered, never sampled
    for t in day.tubes.values():
        t.refresh_from_db()
    assert day.tubes["resulted"].status == TubeStatus.RESULTED
    return day


def age(tubes: list[Tube], hours: float) -> None:
    """Move the tubes' clocks back (what a day's wait looks like), through SQL as a
    real clock would leave them: opened/closed times and their shipment's times."""
    from swabline.labs.models import TubeResult
    from swabline.shipping.models import Shipment, ShipmentTube

    back = dt.timedelta(hours=hours)
    for t in tubes:
        Tube.objects.filter(pk=t.pk).update(
            opened_at=t.opened_at - back, closed_at=(t.closed_at - back) if t.closed_at else None
        )
        for st in ShipmentTube.objects.filter(tube=t).select_related("shipment"):
            s = st.shipment
            Shipment.objects.filter(pk=s.pk).update(
                handed_over_at=s.handed_over_at - back if s.handed_over_at else None,
                received_at=s.received_at - back if s.received_at else None,
            )
            if st.received_at:
                ShipmentTube.objects.filter(pk=st.pk).update(received_at=st.received_at - back)
        for r in TubeResult.objects.filter(tube=t, current=True):
            TubeResult.objects.filter(pk=r.pk).update(entered_at=r.entered_at - back)
