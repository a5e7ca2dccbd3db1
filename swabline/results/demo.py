"""Demo work for the lab roles, made through the real services (what `make run`
shows after `seed_demo`): a handed-over shipment waiting at the demo lab, received
tubes with results entered and awaiting release, and one released positive pool
whose members are on the ward's recall list. Skipped once the campaign has tubes
(seeding twice changes nothing) or when there are too few people."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.utils import timezone

from swabline.campaigns.models import Campaign, Site
from swabline.labs.models import Lab
from swabline.people.models import Person
from swabline.places.models import Place
from swabline.sampling import services as sampling
from swabline.sampling.enums import EventType
from swabline.sampling.models import Tube
from swabline.sampling.sync import EventIn

POOL = 5
# Per tube: (result entered, released?) — None: on the shipment still in transit.
PLAN: list[tuple[str | None, bool]] = [
    ("positive", True),  # its members (of the ward official's ward) are on recall
    ("negative", True),
    ("negative", False),  # entered, waiting for the supervisor
    ("positive", False),
    (None, False),  # handed over, waiting at the lab
    (None, False),
]


def seed_lab_work(
    *, campaign: Campaign, site: Site, ward: Place, lab: Lab, users: dict[str, Any]
) -> int:
    """Make the demo's tubes, shipments and results; returns the tubes made."""
    if Tube.objects.filter(campaign=campaign).exists():
        return 0
    first = list(Person.objects.filter(ward=ward).order_by("id")[:POOL])
    rest = list(
        Person.objects.exclude(pk__in=[p.pk for p in first]).order_by("id")[
            : POOL * (len(PLAN) - 1)
        ]
    )
    people = first + rest
    if len(first) < POOL or len(people) < POOL * len(PLAN):
        return 0
    codes = _fill_tubes(campaign, site, users, people)
    _ship(site, lab, users, codes[:4], receive=True)
    _ship(site, lab, users, codes[4:], receive=False)
    _results(lab, users, codes)
    return len(codes)


def _fill_tubes(
    campaign: Campaign, site: Site, users: dict[str, Any], people: list[Person]
) -> list[str]:
    sampler = users["sampler"]
    batch = sampling.generate_label_batch(
        by=users["province"], campaign=campaign, count=len(PLAN), site=site
    )
    codes = sorted(batch.labels.values_list("code", flat=True))
    start = timezone.now() - dt.timedelta(hours=3)
    events: list[EventIn] = []
    for index, code in enumerate(codes):
        at = start + dt.timedelta(minutes=10 * index)
        events.append(EventIn(uuid.uuid4(), EventType.OPEN_TUBE, at, tube=code, kind="pool"))
        for person in people[index * POOL : (index + 1) * POOL]:
            events.append(
                EventIn(uuid.uuid4(), EventType.ADD_PERSON, at, tube=code, person=person.public_id)
            )
        events.append(EventIn(uuid.uuid4(), EventType.CLOSE_TUBE, at, tube=code))
    sampling.apply_events(by=sampler, site=site, device_id="demo-station", events=events)
    return codes


def _ship(site: Site, lab: Lab, users: dict[str, Any], codes: list[str], *, receive: bool) -> None:
    from swabline.shipping import services as shipping

    shipment = shipping.create_shipment(by=users["courier"], site=site, lab=lab)
    shipping.add_tubes(by=users["courier"], shipment=shipment, codes=codes)
    shipping.hand_over(by=users["courier"], shipment=shipment, courier_name="Nguyễn Văn Tài")
    if receive:
        shipping.receive(by=users["labtech"], shipment=shipment, codes=codes)


def _results(lab: Lab, users: dict[str, Any], codes: list[str]) -> None:
    from swabline.labs import services as labs
    from swabline.labs.models import TubeResult
    from swabline.results.services import release_results

    ct = {"positive": {"E": 24.6, "N": 26.1}, "negative": {}}
    for code, (value, _) in zip(codes, PLAN, strict=True):
        if value is not None:
            labs.record_result(
                by=users["labtech"], lab=lab, value=value, tube_code=code, ct_values=ct[value]
            )
    to_release = [code for code, (value, now) in zip(codes, PLAN, strict=True) if value and now]
    ids = TubeResult.objects.filter(tube__code__in=to_release, current=True).values_list(
        "id", flat=True
    )
    release_results(by=users["labsupervisor"], lab=lab, result_ids=list(ids))
