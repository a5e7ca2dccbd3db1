"""Paper tubes for the backfill tests, through the real services: labels issued to a
site, a shipment received at the lab with a label nobody entered (names missing),
a result entered by the lab."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.utils import timezone

from swabline.backfill import services
from swabline.labs import services as labs
from swabline.people.models import Person
from swabline.sampling.models import Tube
from swabline.shipping import services as shipping
from tests.sampling.factories import labels, people
from tests.shipping.helpers import in_transit, tube


def names_missing(world: Any, *, count: int = 1, result: str | None = None) -> list[Tube]:
    """`count` names-missing tubes of site A received at lab A (with an entered
    `result` each if given), in one shipment with one normal tube."""
    codes = labels(world, count, site=world.site_a)
    shipment = in_transit(world, [tube(world)])
    lab_user = world.users["labsupervisor_a"]
    for code in codes:
        shipping.scan_at_receipt(by=lab_user, shipment=shipment, code=code)
    shipping.receive(by=lab_user, shipment=shipment)
    made = list(Tube.objects.filter(code__in=codes).select_related("site__ward"))
    if result is not None:
        for t in made:
            labs.record_result(by=world.users["labtech_a"], lab=world.lab_a, value=result, tube=t)
    for t in made:
        t.refresh_from_db()
    return made


def paper(
    code: str, members: list[Person], *, sheet: str = "P-01", hours_ago: float = 3
) -> services.PaperTube:
    return services.PaperTube(
        code=code,
        collected_at=timezone.now() - dt.timedelta(hours=hours_ago),
        sheet_ref=sheet,
        people=members,
    )


def enter(world: Any, code: str, members: list[Person] | int = 3, *, user: str = "dataentry_a",
          site: Any = None, **kwargs: Any) -> services.Entered:  # fmt: skip
    site = site or world.site_a
    if isinstance(members, int):
        members = people(world, members, ward=site.ward)
    return services.enter_paper_tube(
        by=world.users[user],
        site=site,
        paper=paper(code, members),
        client_id=kwargs.pop("client_id", uuid.uuid4()),
        **kwargs,
    )
