"""Tubes ready to ship, made directly (the station's own path is tested in
tests/sampling): open, people put in, then closed, as the triggers require."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from swabline.sampling.enums import TubeKind, TubeStatus
from swabline.sampling.models import Sample, Tube
from swabline.shipping import services
from swabline.shipping.models import Shipment
from tests.factories import CampaignFactory, PersonFactory, SiteFactory
from tests.sampling.factories import fresh_code


def tube(
    world: Any,
    *,
    people: int = 2,
    site: Any = None,
    status: str = TubeStatus.CLOSED,
    names: list[str] | None = None,
) -> Tube:
    """A tube at `site` (default site A) of its campaign with `people` members."""
    site = site or world.site_a
    now = timezone.now()
    t = Tube.objects.create(
        code=fresh_code(),
        campaign_id=site.campaign_id,
        site=site,
        kind=TubeKind.POOL,
        pool_limit=10,
        member_count=people,
        opened_by=world.users["sampler_a"],
        client_opened_at=now,
    )
    names = names or []
    Sample.objects.bulk_create(
        Sample(
            tube=t,
            person=PersonFactory.create(
                ward=site.ward, **({"full_name": names[i]} if i < len(names) else {})
            ),
            campaign_id=site.campaign_id,
            position=i + 1,
            collected_at=now,
            collected_by=world.users["sampler_a"],
            client_event_id=uuid.uuid4(),
        )
        for i in range(people)
    )
    if status != TubeStatus.OPEN:
        Tube.objects.filter(pk=t.pk).update(status=TubeStatus.CLOSED, closed_at=now)
        t.status = TubeStatus.CLOSED
    if status == TubeStatus.VOID:
        raise ValueError("use the station to void a tube")
    return t


def tubes(world: Any, count: int, **kwargs: Any) -> list[Tube]:
    return [tube(world, **kwargs) for _ in range(count)]


def other_campaign_site(world: Any) -> Any:
    campaign = CampaignFactory.create(province=world.province, name="Đợt khác")
    return SiteFactory.create(campaign=campaign, ward=world.ward_a, name="Điểm khác")


def shipment(world: Any, *, lab: Any = None, user: str = "courier_a", site: Any = None) -> Shipment:
    return services.create_shipment(
        by=world.users[user], site=site or world.site_a, lab=lab or world.lab_a
    )


def in_transit(world: Any, tube_list: list[Tube], *, lab: Any = None) -> Shipment:
    """A shipment from site A to `lab` with `tube_list`, handed over."""
    s = shipment(world, lab=lab)
    by = world.users["courier_a"]
    services.add_tubes(by=by, shipment=s, codes=[t.code for t in tube_list])
    return services.hand_over(by=by, shipment=s, courier_name="Anh Tư")
