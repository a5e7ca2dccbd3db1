"""Benchmark: hand over and receive a shipment of 500 pooled tubes (5,000 people).

    .venv/bin/python -m bench.shipping_500 [--tubes 500] [--pool 10] [--rounds 3]

Standalone and in-process (each step is one service call, measured once per round).
In a database of its own (`BENCH_SHIPPING_URL`, default
postgresql://postgres@127.0.0.1:5432/swabline_bench_shipping, dropped and created
again each run; `sqlite` measures a temporary SQLite file instead):

1. migrates, builds a campaign, a site, a lab, a courier and a technician;
2. per round: N closed tubes of `--pool` people, packed with `add_tubes` (one batch);
3. times `hand_over` (every tube `closed → shipped` in one UPDATE) and `receive` with
   every code but one scanned plus one unexpected tube (discrepancies recorded, found
   tubes `shipped → received` in one UPDATE), with the number of SQL queries;
4. the same-run raw baseline: one UPDATE of the same N tube rows through the driver
   (status unchanged, so the tube trigger fires exactly as for the real move).

Issue expectation: set-based (a fixed number of queries whatever N).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/swabline_bench_shipping"


def _prepare_database(url: str) -> str:
    if url == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='swabline-ship-')}/bench.sqlite3"
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tubes", type=int, default=500)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = _prepare_database(
        os.environ.get("BENCH_SHIPPING_URL", DEFAULT_URL)
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swabline.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(args.tubes, args.pool, args.rounds)


def run(count: int, pool: int, rounds: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from swabline.accounts import services as accounts
    from swabline.accounts.enums import Role
    from swabline.people.codes import new_person_code
    from swabline.people.models import Person
    from swabline.sampling.codes import damm_digit
    from swabline.sampling.enums import TubeKind, TubeStatus
    from swabline.sampling.models import Sample, Tube
    from swabline.shipping import services
    from tests.factories import (
        CampaignFactory,
        LabFactory,
        PersonFactory,
        SiteFactory,
        UserFactory,
        make_place,
    )

    province = make_place("Tỉnh Đo", level="province")
    ward = make_place("Phường Đo", parent=province)
    campaign = CampaignFactory.create(province=province, pool_size_limit=pool)
    site = SiteFactory.create(campaign=campaign, ward=ward)
    lab = LabFactory.create(place=province)
    courier, tech = UserFactory.create(username="c"), UserFactory.create(username="t")
    accounts.assign(user=courier, role=Role.COURIER, by=None, site=site)
    accounts.assign(user=tech, role=Role.LAB_TECHNICIAN, by=None, lab=lab)
    serial = iter(range(10**10, 10**11))

    def code() -> str:
        body = str(next(serial))
        return body + damm_digit(body)

    def closed_tubes() -> list[Tube]:
        now = timezone.now()
        tubes = Tube.objects.bulk_create(
            Tube(code=code(), campaign=campaign, site=site, kind=TubeKind.POOL,
                 pool_limit=pool, member_count=pool, opened_by=courier, client_opened_at=now)
            for _ in range(count)
        )  # fmt: skip
        codes: set[str] = set()
        while len(codes) < count * pool:  # random codes, distinct within the batch
            codes.add(new_person_code())
        people = Person.objects.bulk_create(
            PersonFactory.build(ward=ward, province_code=ward.province_code, code=c) for c in codes
        )
        Sample.objects.bulk_create(
            Sample(tube=t, person=people[i * pool + p], campaign=campaign, position=p + 1,
                   collected_at=now, collected_by=courier, client_event_id=uuid.uuid4())
            for i, t in enumerate(tubes) for p in range(pool)
        )  # fmt: skip
        Tube.objects.filter(pk__in=[t.pk for t in tubes]).update(status=TubeStatus.CLOSED)
        return tubes

    print(f"database: {connection.vendor}; {count} tubes × {pool} people; load {os.getloadavg()}")
    for round_ in range(1, rounds + 1):
        tubes = closed_tubes()
        stray = closed_tubes()[0]
        shipment = services.create_shipment(by=courier, site=site, lab=lab)
        started = time.perf_counter()
        services.add_tubes(by=courier, shipment=shipment, codes=[t.code for t in tubes])
        packed = time.perf_counter() - started
        with CaptureQueriesContext(connection) as handed_q:
            started = time.perf_counter()
            services.hand_over(by=courier, shipment=shipment, courier_name="Bench")
            handed = time.perf_counter() - started
        scanned = [t.code for t in tubes[1:]] + [stray.code]
        with CaptureQueriesContext(connection) as received_q:
            started = time.perf_counter()
            receipt = services.receive(by=tech, shipment=shipment, codes=scanned)
            received = time.perf_counter() - started
        assert receipt.received == count - 1, receipt.received
        ids = [t.pk for t in tubes]
        with connection.cursor() as cursor:
            started = time.perf_counter()
            marks = ",".join(["%s"] * len(ids))
            cursor.execute(f"UPDATE sampling_tube SET status = status WHERE id IN ({marks})", ids)
            raw = time.perf_counter() - started
        print(
            f"round {round_}: add_tubes {packed * 1000:.0f} ms; "
            f"hand_over {handed * 1000:.0f} ms ({len(handed_q)} queries); "
            f"receive {received * 1000:.0f} ms ({len(received_q)} queries, "
            f"{sum(len(v) for v in receipt.discrepancies.values())} discrepancies); "
            f"raw UPDATE of the {count} tube rows {raw * 1000:.1f} ms"
        )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
