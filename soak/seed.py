"""The soak's data, made through the real services in a subprocess with
DATABASE_URL set: `python -m soak.seed prepare OUT.json SCAN_PEOPLE LAB_TUBES` or
`python -m soak.seed release`.

prepare: the test world (two wards, sites, labs, a persona per role), a supplier
label pattern so stations may open any `SOAK-…` tube, bearer tokens for the sampler
and the lab technician, SCAN_PEOPLE people registered in ward A (their QR payloads)
for the stations to scan, and LAB_TUBES pooled tubes of 10 shipped to lab A in boxes
of 50 and received there (the shipping services), for the lab to enter results
for. Writes what the locust users need to OUT.json.

release: the supervisor releases every entered result of lab A (the campaign day's
14:00), in batches of 500 tubes, as the review page does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

POOL = 10


def _people(world: Any, count: int) -> list[str]:
    from swabline.core.text import fold
    from swabline.people import qr
    from swabline.people.models import Person

    made = 0
    while made < count:
        rows = []
        for i in range(made, min(made + 5_000, count)):
            name = f"Khách Soak {i:06d}"
            rows.append(
                Person(
                    full_name=name, name_folded=fold(name), birth_year=1940 + i % 60, sex="F",
                    ward=world.ward_a, province_code=world.ward_a.province_code,
                )
            )  # fmt: skip
        Person.objects.bulk_create(rows, ignore_conflicts=True)
        made = Person.objects.filter(full_name__startswith="Khách Soak").count()
    found = Person.objects.filter(full_name__startswith="Khách Soak").order_by("id")[:count]
    return [qr.build_payload(p.qr_token, p.full_name, p.birth_year) for p in found]


def prepare(out: str, scan_people: int, lab_tubes: int) -> None:
    from swabline.accounts.services import issue_token
    from swabline.sampling.models import SamplingSettings
    from swabline.shipping import services as shipping
    from tests.conftest import build_world
    from tests.results.helpers import tube_with
    from tests.shipping.helpers import in_transit

    started = time.monotonic()
    world = build_world()
    SamplingSettings.objects.create(campaign=world.campaign, label_pattern=r"SOAK-[0-9A-Z]+-[0-9]+")
    tubes, lookups = [], []
    made = [tube_with(world, POOL) for _ in range(lab_tubes)]
    for start in range(0, len(made), 50):  # boxes of 50 tubes, carried and received
        box = made[start : start + 50]
        shipment = in_transit(world, box)
        codes = [t.code for t in box]
        shipping.receive(by=world.users["labtech_a"], shipment=shipment, codes=codes)
    for tube in made:
        tubes.append(tube.code)
        for sample in tube.samples.select_related("person"):
            born = sample.person.birth_date
            assert born is not None  # the factory's people have a full date of birth
            lookups.append(
                {"identifier": sample.person.display_code, "day": born.day,
                 "month": born.month, "year": born.year}
            )  # fmt: skip
    data = {
        "site": str(world.site_a.public_id),
        "lab": str(world.lab_a.public_id),
        "station_token": issue_token(user=world.users["sampler_a"], name="soak station")[1],
        "lab_token": issue_token(user=world.users["labtech_a"], name="soak lab")[1],
        "scans": _people(world, scan_people),
        "lab_tubes": tubes,
        "lookups": lookups,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f)
    print(f"seeded in {time.monotonic() - started:.1f} s")


def release() -> None:
    from swabline.accounts.models import User
    from swabline.labs.models import Lab, TubeResult
    from swabline.results import services

    supervisor = User.objects.get(username="labsupervisor_a")
    lab = Lab.objects.get(name="Lab A")
    pending = list(
        TubeResult.objects.filter(lab=lab, released_at__isnull=True).values_list("pk", flat=True)
    )
    for start in range(0, len(pending), 500):
        services.release_results(by=supervisor, lab=lab, result_ids=pending[start : start + 500])
    print(f"released {len(pending)} tubes")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swabline.settings")
    import django

    django.setup()
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        release()
