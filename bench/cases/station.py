"""The sampling station: one scan per HTTP request (online), and batched offline sync.

station-scan-http: POST /api/v1/station/events with one add_person event (our QR
    scanned) into a tube opened beforehand, as a phone sends each scan while online.
    Bearer-token auth, the full middleware stack. Tubes fill to 10 and close
    themselves; each client process fills its own tubes, so every event is applied.
    Compared with plain-insert-http (one row per request).
station-sync-batch: services.apply_events with batches of 500 events (50 tubes:
    open, 9 scans), in-process on the database, as a station coming back online
    syncs its outbox. Units are events *applied*; replays and conflicts don't count.

Both run on PostgreSQL only (the issue's targets are for PostgreSQL). People are made
once per benchmark database and reused across runs: every run opens a new campaign,
so nobody in it has been sampled yet.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.config import Config
from bench.leg import Leg
from bench.registry import DbCase, DbOp, HttpCase, Request, Target, register
from swabline.core.ids import uuid7

PEOPLE_MARK = "Bench Station"  # full_name prefix of the benchmark's people
POOL = 10
BATCH_TUBES = 50
BATCH_PER_TUBE = 1 + (POOL - 1)  # open + 9 scans: the tube stays open
# Headroom over the targets, so a fast machine never runs out of people or tubes.
HTTP_MAX_RATE = 4_000
BATCH_MAX_RATE = 30_000


def _capacity(rate: int) -> int:
    config = Config.from_env()
    return int(rate * (config.warmup + config.seconds + 3))


def _world(run_token: str, name: str, sites: int = 1) -> dict[str, Any]:
    """A province, ward, campaign (pool 10, supplier pattern for bench labels), `sites`
    sites and a sampler assigned to all of them, new for this run."""
    from swabline.accounts import services as accounts
    from swabline.accounts.enums import Role
    from swabline.accounts.models import User
    from swabline.campaigns.models import Campaign, Site
    from swabline.places.enums import Level, System
    from swabline.places.models import Place
    from swabline.sampling.models import SamplingSettings

    province, _ = Place.objects.get_or_create(
        system=System.CURRENT, level=Level.PROVINCE, code="BENCH-P",
        defaults={"name": "Tỉnh Bench", "short_name": "Bench", "kind": "Tỉnh",
                  "name_folded": "tinh bench", "path": "", "province_code": "99"},
    )  # fmt: skip
    if not province.path:
        province.path = f"/{province.pk}/"
        province.save(update_fields=["path"])
    ward, _ = Place.objects.get_or_create(
        system=System.CURRENT, level=Level.WARD, code="BENCH-W",
        defaults={"name": "Phường Bench", "short_name": "Bench", "kind": "Phường",
                  "name_folded": "phuong bench", "parent": province, "path": "",
                  "province_code": "99"},
    )  # fmt: skip
    if not ward.path:
        ward.path = f"{province.path}{ward.pk}/"
        ward.save(update_fields=["path"])
    today = dt.date.today()  # noqa: DTZ011 (the campaign only needs to cover today)
    campaign = Campaign.objects.create(
        name=f"Bench {name} {run_token}",
        province=province,
        starts_on=today - dt.timedelta(days=1),
        ends_on=today + dt.timedelta(days=2),
        pool_size_limit=POOL,
        status="active",
    )
    SamplingSettings.objects.create(
        campaign=campaign, label_pattern=r"BENCH-[0-9A-F]+-[0-9]+-[0-9]+"
    )
    user = User.objects.create(username=f"bench-{name}-{run_token}")
    all_sites = []
    for index in range(sites):
        site = Site.objects.create(
            campaign=campaign, ward=ward, name=f"Điểm {name} {run_token} {index}"
        )
        accounts.assign(user=user, role=Role.SAMPLER, by=None, site=site)
        all_sites.append(site)
    return {"ward": ward, "campaign": campaign, "site": all_sites[0], "sites": all_sites,
            "user": user}  # fmt: skip


def _people(ward: Any, count: int) -> list[tuple[int, str]]:
    """(id, QR payload) of `count` benchmark people, made on first use."""
    from django.db import connection

    from swabline.core.text import fold
    from swabline.people import qr
    from swabline.people.models import Person

    have = Person.objects.filter(full_name__startswith=PEOPLE_MARK).count()
    made = have
    while made < count:
        # Person codes are short (7 random characters): at this scale a few clash,
        # and ignore_conflicts skips those rows; the loop makes up the difference.
        rows = []
        for index in range(made, min(made + 5_000, count)):
            name = f"{PEOPLE_MARK} {index:07d}"
            rows.append(
                Person(
                    full_name=name, name_folded=fold(name), birth_year=1950 + index % 60,
                    sex="F", ward=ward, province_code=ward.province_code,
                )
            )  # fmt: skip
        Person.objects.bulk_create(rows, ignore_conflicts=True)
        made = Person.objects.filter(full_name__startswith=PEOPLE_MARK).count()
    if made > have:
        # As autovacuum would after a bulk load (this machine's server runs without
        # it): otherwise the first round reads a million new rows and writes each
        # page back to set its hint bits, and measures that (5,050 events/s for the
        # sync's first round on a new database against 22,750 for the second).
        vacuum = (
            "VACUUM (ANALYZE) people_person"
            if connection.vendor == "postgresql"
            else "ANALYZE people_person"
        )
        with connection.cursor() as cursor:
            cursor.execute(vacuum)
    found = (
        Person.objects.filter(full_name__startswith=PEOPLE_MARK)
        .order_by("id")
        .values_list("id", "qr_token", "full_name", "birth_year")[:count]
    )
    return [(pk, qr.build_payload(token, name, year)) for pk, token, name, year in found]


def _open_tubes(world: dict[str, Any], codes: list[str], site: Any = None) -> None:
    from django.utils import timezone

    from swabline.sampling import services
    from swabline.sampling.sync import EventIn

    now = timezone.now()
    for start in range(0, len(codes), 1000):
        events = [
            EventIn(uuid7(), "open_tube", now, tube=code, seq=i)
            for i, code in enumerate(codes[start : start + 1000])
        ]
        results = services.apply_events(
            by=world["user"], site=site or world["site"], device_id="bench-setup", events=events
        )
        refused = [r for r in results if r.fate != "applied"]
        if refused:
            raise RuntimeError(f"bench tubes refused: {refused[0].reason}")


@register
class StationScanHttp(HttpCase):
    id = "station-scan-http"
    title = "Station: one scan per request (POST /api/v1/station/events)"
    unit = "events/s"
    baseline = "plain-insert-http"
    target = Target(min_rate=1_000, max_p99_ms=50, min_ratio=0.6)
    legs = frozenset({"postgresql"})
    # Each connection is a station phone at its own site: it scans into its own tube,
    # one scan after another, as a sampler does. (Until 2026-11-30 two connections
    # shared each tube and all four one site, so the scans queued on the tube's row
    # lock and the site's counter rows, which no real province's stations share at
    # 1,000 scans/s: that rate comes from hundreds of sites.)
    process_per_connection = True
    processes = 0
    per_process = 0

    def setup(self, leg: Leg) -> None:
        from swabline.accounts.services import issue_token

        self.processes = leg.client_processes  # each client process fills its own tubes
        world = _world(leg.token, "http", sites=self.processes)
        _, self.token = issue_token(user=world["user"], name="bench station")
        self.sites = [str(site.public_id) for site in world["sites"]]
        self.per_process = _capacity(HTTP_MAX_RATE) // self.processes
        payloads = _people(world["ward"], self.per_process * self.processes)
        self.scans = [p for _, p in payloads]
        tubes = -(-self.per_process // POOL)
        self.codes = [
            [f"BENCH-{leg.token.upper()}-{w}-{t}" for t in range(tubes)]
            for w in range(self.processes)
        ]
        for codes, site in zip(self.codes, world["sites"], strict=True):
            _open_tubes(world, codes, site)

    def request(self, worker: int, seq: int, rng: random.Random) -> Request:
        index = min(seq, self.per_process) - 1  # seq counts from 1 in each client process
        event = {
            "id": str(uuid7()),
            "type": "add_person",
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "tube": self.codes[worker][index // POOL],
            "scan": self.scans[worker * self.per_process + index],
            "seq": seq,
        }
        body = json.dumps(
            {"device_id": f"bench-{worker}", "site": self.sites[worker], "events": [event]}
        )
        headers = (("Authorization", f"Bearer {self.token}"),)
        return Request("POST", "/api/v1/station/events", body.encode(), headers=headers)


@register
class StationSyncBatch(DbCase):
    id = "station-sync-batch"
    title = "Station: offline sync, 500 events per batch (services.apply_events)"
    unit = "events/s"
    baseline = "raw-insert"
    target = Target(min_rate=20_000)
    legs = frozenset({"postgresql"})

    def setup(self, leg: Leg) -> None:
        self.world = _world(leg.token, "sync")
        scans_share = (BATCH_PER_TUBE - 1) / BATCH_PER_TUBE
        self.per_worker = int(_capacity(BATCH_MAX_RATE) * scans_share) // leg.workers
        self.people = _people(self.world["ward"], self.per_worker * leg.workers)
        self.token = leg.token

    @contextmanager
    def session(self, leg: Leg, worker: int) -> Iterator[DbOp]:
        from django.db import connections
        from django.utils import timezone

        from swabline.campaigns.models import Site
        from swabline.sampling import services
        from swabline.sampling.sync import EventIn

        site = Site.objects.select_related("campaign", "ward").get(pk=self.world["site"].pk)
        user = self.world["user"]
        mine = self.people[worker * self.per_worker : (worker + 1) * self.per_worker]
        per_batch = BATCH_TUBES * (BATCH_PER_TUBE - 1)

        def sync_batch(seq: int, rng: random.Random) -> int:
            now = timezone.now()
            events: list[EventIn] = []
            scans = iter(mine[(seq * per_batch) % len(mine) :])
            for t in range(BATCH_TUBES):
                code = f"BENCH-{self.token.upper()}-{worker}-{seq * BATCH_TUBES + t}"
                events.append(EventIn(uuid7(), "open_tube", now, tube=code, seq=len(events)))
                for _ in range(BATCH_PER_TUBE - 1):
                    _, scan = next(scans)
                    events.append(
                        EventIn(uuid7(), "add_person", now, tube=code, scan=scan, seq=len(events))
                    )
            rng.shuffle(events)  # the station's seq, not the arrival order, decides
            results = services.apply_events(
                by=user, site=site, device_id=f"bench-{worker}", events=events
            )
            return sum(1 for r in results if r.fate == "applied")

        try:
            yield sync_batch
        finally:
            connections.close_all()
