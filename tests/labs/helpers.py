"""Tubes at a lab for lab tests: made straight with the ORM along the allowed statuses
(open → closed → shipped → received), on a received shipment to the lab."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.utils import timezone

from swabline.labs.models import Lab
from swabline.sampling.enums import TubeKind, TubeStatus
from swabline.sampling.models import Sample, Tube
from swabline.shipping.enums import ShipmentStatus
from swabline.shipping.models import Shipment, ShipmentTube
from tests.factories import PersonFactory
from tests.sampling.factories import fresh_code


def closed_tube(world: Any, *, members: int = 3, site: Any = None) -> Tube:
    site = site or world.site_a
    sampler = world.users["sampler_a"]
    kind = TubeKind.POOL if members > 1 else TubeKind.INDIVIDUAL
    tube = Tube.objects.create(
        code=fresh_code(),
        campaign=world.campaign,
        site=site,
        kind=kind,
        pool_limit=10 if kind == TubeKind.POOL else 1,
        opened_by=sampler,
        client_opened_at=timezone.now(),
    )
    for position in range(1, members + 1):
        Sample.objects.create(
            tube=tube,
            person=PersonFactory.create(ward=site.ward),
            campaign=world.campaign,
            position=position,
            collected_at=timezone.now(),
            collected_by=sampler,
            client_event_id=uuid.uuid4(),
        )
    Tube.objects.filter(pk=tube.pk).update(member_count=members)
    Tube.objects.filter(pk=tube.pk).update(status=TubeStatus.CLOSED, closed_at=timezone.now())
    tube.refresh_from_db()
    return tube


def ship(world: Any, tubes: list[Tube], *, lab: Lab | None = None, received: bool = True,
         received_at: dt.datetime | None = None) -> Shipment:  # fmt: skip
    lab = lab or world.lab_a
    shipment = Shipment.objects.create(
        campaign=world.campaign,
        site=tubes[0].site,
        lab=lab,
        status=ShipmentStatus.RECEIVED if received else ShipmentStatus.IN_TRANSIT,
        created_by=world.users["courier_a"],
        handed_over_at=timezone.now(),
        received_at=(received_at or timezone.now()) if received else None,
    )
    for tube in tubes:
        ShipmentTube.objects.create(
            shipment=shipment,
            tube=tube,
            added_by=world.users["courier_a"],
            received_at=shipment.received_at,
        )
    ids = [t.pk for t in tubes]
    Tube.objects.filter(pk__in=ids).update(status=TubeStatus.SHIPPED)
    if received:
        Tube.objects.filter(pk__in=ids).update(status=TubeStatus.RECEIVED)
    for tube in tubes:
        tube.refresh_from_db()
    return shipment


def received_tubes(world: Any, count: int = 1, *, members: int = 3, lab: Lab | None = None,
                   received_at: dt.datetime | None = None) -> list[Tube]:  # fmt: skip
    tubes = [closed_tube(world, members=members) for _ in range(count)]
    ship(world, tubes, lab=lab, received_at=received_at)
    return tubes
