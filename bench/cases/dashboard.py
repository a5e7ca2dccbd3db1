"""The command center's province page over 10,000,000 samples (issue #7: p95 ≤ 50 ms).

One province (code B7) of 100 wards and 1,000 sites; 1,000,000 pooled tubes of 10
people (10,000,000 samples) over the last 12 hours, most released (2 % of pools
positive: their members on the recall list), and a backlog at every step (open,
closed, shipped, received, resulted, rejected) so every alarm has work. Made once
per database, set-based in the server (INSERT … SELECT over generate_series, with
`session_replication_role = replica`: no triggers or foreign-key checks while
loading), then the rollups are rebuilt by the real `rebuild_rollups` (set-based)
and checked against a recount. The samples' people are synthetic ids (no person
rows: the page reads none, and 10,000,000 person rows with their search indexes
would take this machine most of an hour); "registered" is therefore 0 here.

Two cases, PostgreSQL only (a province is PostgreSQL's job, DESIGN §9):

- `dashboard-province`: GET the province page as a province official (HTTP, the
  real server): rollups, campaign wards, places, alarms at the sites with a backlog,
  hourly series;
- `dashboard-province-rollup`: the raw rollup read the page starts from (the
  province's site counters, one SELECT over psycopg), for scale.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.leg import Leg
from bench.registry import DbCase, DbOp, HttpCase, Request, Target, register

PROVINCE = "B7"
WARDS = 100
SITES_PER_WARD = 10
# BENCH_DASHBOARD_TUBES: a smaller province for a quick try (its own campaign).
TUBES = int(os.environ.get("BENCH_DASHBOARD_TUBES", "1000000"))
POOL = 10
PERSON_OFFSET = 1_000_000_000  # synthetic person ids, far above real ones
CAMPAIGN = f"Đợt đo bảng điều hành ({TUBES:,} ống)"

ROLLUP_SQL = """
SELECT c.site_id, c.metric, c.n FROM dashboard_sitecount c
  JOIN campaigns_site s ON s.id = c.site_id
  JOIN places_place w ON w.id = s.ward_id
 WHERE c.province_code = %s AND c.campaign_id = %s AND s.campaign_id = %s
   AND w.path LIKE %s
"""


def _places() -> tuple[Any, list[Any]]:
    from swabline.core.text import fold
    from swabline.places.enums import Level, System
    from swabline.places.models import Place

    province, _ = Place.objects.get_or_create(
        system=System.CURRENT, level=Level.PROVINCE, code=PROVINCE,
        defaults={"name": "Tỉnh Đo Điều Hành", "short_name": "Đo Điều Hành", "kind": "Tỉnh",
                  "name_folded": fold("Tỉnh Đo Điều Hành"), "path": "", "province_code": PROVINCE},
    )  # fmt: skip
    if not province.path:
        province.path = f"/{province.pk}/"
        province.save(update_fields=["path"])
    wards = []
    for i in range(WARDS):
        name = f"Phường Điều Hành {i:03d}"
        ward, _ = Place.objects.get_or_create(
            system=System.CURRENT, level=Level.WARD, code=f"{PROVINCE}{i:03d}",
            defaults={"name": name, "short_name": name, "kind": "Phường", "name_folded": fold(name),
                      "parent": province, "path": "", "province_code": PROVINCE},
        )  # fmt: skip
        if not ward.path:
            ward.path = f"{province.path}{ward.pk}/"
            ward.save(update_fields=["path"])
        wards.append(ward)
    return province, wards


def _campaign(province: Any, wards: list[Any]) -> Any:
    import datetime as dt

    from django.utils import timezone

    from swabline.campaigns.enums import CampaignStatus, TestType
    from swabline.campaigns.models import Campaign, CampaignWard, Site

    campaign = Campaign.objects.filter(name=CAMPAIGN, province=province).first()
    if campaign is None:
        today = timezone.localdate()
        campaign = Campaign.objects.create(
            name=CAMPAIGN, province=province, starts_on=today - dt.timedelta(days=1),
            ends_on=today + dt.timedelta(days=2), test_type=TestType.RT_PCR_POOLED,
            pool_size_limit=POOL, status=CampaignStatus.ACTIVE,
        )  # fmt: skip
        CampaignWard.objects.bulk_create(
            CampaignWard(campaign=campaign, ward=w, target_population=110_000) for w in wards
        )
        Site.objects.bulk_create(
            Site(campaign=campaign, ward=w, name=f"Điểm {w.code}-{k}", province_code=PROVINCE)
            for w in wards
            for k in range(SITES_PER_WARD)
        )
    return campaign


def _generate(campaign: Any) -> None:
    """Tubes, samples, results and outcomes, set-based (see the module docstring)."""
    from django.db import connection, transaction

    from swabline.accounts.models import User
    from swabline.dashboard.services import differences, rebuild_rollups
    from swabline.labs.models import Lab

    user, _ = User.objects.get_or_create(username="bench-dashboard-sampler")
    lab, _ = Lab.objects.get_or_create(
        code="LABDASH", defaults={"name": "Lab đo điều hành", "place": campaign.province}
    )
    p = {"c": campaign.pk, "prov": PROVINCE, "u": user.pk, "lab": lab.pk, "tubes": TUBES,
         "pool": POOL, "people": TUBES * POOL, "off": PERSON_OFFSET}  # fmt: skip
    # Status by tube number: a backlog of 0.1 % at each step, 0.1 % rejected.
    status = (
        "CASE t % 1000 WHEN 0 THEN 'open' WHEN 1 THEN 'closed' WHEN 2 THEN 'shipped'"
        " WHEN 3 THEN 'received' WHEN 4 THEN 'resulted' WHEN 5 THEN 'rejected'"
        " ELSE 'released' END"
    )
    opened = "now() - interval '12 hours' + ((t % 700) * interval '1 minute')"
    steps = [
        (
            "sites",
            "CREATE TEMP TABLE bench_sites ON COMMIT DROP AS SELECT id, row_number() OVER (ORDER BY id) - 1"
            " AS k FROM campaigns_site WHERE campaign_id = %(c)s",
        ),
        (
            "tubes",
            "CREATE TEMP TABLE bench_tubes ON COMMIT DROP AS SELECT t, (SELECT coalesce(max(id), 0) FROM"
            " sampling_tube) + t AS id FROM generate_series(1, %(tubes)s) t",
        ),
        (
            "tube rows",
            "INSERT INTO sampling_tube (id, province_code, code, campaign_id, site_id, kind, status,"
            " pool_limit, member_count, is_recall, opened_by_id, opened_at, client_opened_at,"
            f" closed_at, voided_reason) SELECT b.id, %(prov)s, '7' || lpad(b.id::text, 13, '0'),"
            f" %(c)s, s.id, 'pool', {status.replace('t %', 'b.t %')}, %(pool)s, %(pool)s, false,"
            f" %(u)s, {opened.replace('t %', 'b.t %')}, {opened.replace('t %', 'b.t %')},"
            f" CASE WHEN b.t % 1000 = 0 THEN NULL ELSE {opened.replace('t %', 'b.t %')}"
            " + interval '20 minutes' END, ''"
            " FROM bench_tubes b JOIN bench_sites s ON s.k = (b.t - 1) % 1000",
        ),
        (
            "samples",
            "INSERT INTO sampling_sample (province_code, tube_id, person_id, campaign_id, position,"
            " kind, active, collected_at, collected_by_id, received_at, client_event_id)"
            " SELECT %(prov)s, b.id, %(off)s + (b.t - 1) * %(pool)s + k, %(c)s, k, 'normal', true,"
            f" {opened.replace('t %', 'b.t %')} + k * interval '1 minute', %(u)s, now(),"
            " md5('bench-dash-' || b.id || '-' || k)::uuid"
            " FROM bench_tubes b CROSS JOIN generate_series(1, %(pool)s) k",
        ),
        (
            "results",
            "INSERT INTO labs_tuberesult (tube_id, lab_id, value, ct_values, method, well, run_id,"
            " source, state, current, entered_by_id, entered_at, released_by_id, released_at,"
            " amendment_reason, province_code) SELECT b.id, %(lab)s, CASE WHEN b.t % 50 = 7 THEN 'positive'"
            " ELSE 'negative' END, '{}', '', '', 'bench', 'upload',"
            " CASE WHEN b.t % 1000 = 4 THEN 'entered' ELSE 'released' END, true, %(u)s,"
            f" {opened.replace('t %', 'b.t %')} + interval '5 hours',"
            " CASE WHEN b.t % 1000 = 4 THEN NULL ELSE %(u)s END,"
            f" CASE WHEN b.t % 1000 = 4 THEN NULL ELSE {opened.replace('t %', 'b.t %')}"
            " + interval '6 hours' END, '', %(prov)s"
            " FROM bench_tubes b WHERE b.t % 1000 NOT IN (0, 1, 2, 3, 5)",
        ),
        (
            "outcomes",
            "INSERT INTO results_outcome (province_code, person_id, campaign_id, state, tube_id,"
            " sample_id, result_id, release_id, current, decided_at)"
            " SELECT %(prov)s, s.person_id, %(c)s, CASE WHEN t.status = 'rejected' THEN 'recollect'"
            " WHEN r.value = 'positive' THEN 'recall' ELSE 'negative' END, t.id, s.id, r.id, NULL,"
            " true, t.opened_at + interval '6 hours'"
            " FROM sampling_tube t JOIN sampling_sample s ON s.tube_id = t.id"
            " LEFT JOIN labs_tuberesult r ON r.tube_id = t.id AND r.current"
            " WHERE t.campaign_id = %(c)s AND t.status IN ('released', 'rejected')",
        ),
    ]
    with connection.cursor() as cursor:
        with transaction.atomic():
            cursor.execute("SET LOCAL session_replication_role = replica")
            for name, sql in steps:
                began = time.perf_counter()
                cursor.execute(sql.replace(" % ", " %% "), p)
                print(f"  [dashboard] {name}: {time.perf_counter() - began:.1f} s", flush=True)
        for table in ("sampling_tube", "sampling_sample", "labs_tuberesult", "results_outcome"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        began = time.perf_counter()
        cursor.execute(
            "VACUUM ANALYZE sampling_tube, sampling_sample, labs_tuberesult, results_outcome,"
            " campaigns_site, campaigns_campaignward, places_place"
        )
        print(f"  [dashboard] vacuum analyze: {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    rebuild_rollups(campaign)
    print(f"  [dashboard] rebuild_rollups: {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    wrong = differences(campaign)
    print(f"  [dashboard] recount check: {time.perf_counter() - began:.1f} s", flush=True)
    if wrong:
        raise RuntimeError(f"rollups differ from a recount: {wrong[:5]}")


def ensure_data(leg: Leg) -> tuple[Any, Any]:
    """The province and its campaign with 10,000,000 samples (made once)."""
    from swabline.sampling.models import Tube

    province, wards = _places()
    campaign = _campaign(province, wards)
    if not Tube.objects.filter(campaign=campaign).exists():
        began = time.perf_counter()
        print(f"  [dashboard] generating {TUBES * POOL:,} samples…", flush=True)
        _generate(campaign)
        print(f"  [dashboard] data ready in {time.perf_counter() - began:.0f} s", flush=True)
    return province, campaign


def _session(province: Any) -> str:
    from django.test import Client

    from swabline.accounts import services
    from swabline.accounts.enums import Role
    from swabline.accounts.models import User

    user, created = User.objects.get_or_create(username="bench-dashboard-province")
    if created or not user.assignments.exists():
        services.assign(user=user, role=Role.OFFICIAL, by=None, place=province)
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@register
class DashboardProvince(HttpCase):
    id = "dashboard-province"
    title = "Province dashboard, 10,000,000 samples (GET /dashboard/<campaign>/)"
    baseline = "plain-get-http"
    target = Target(max_p99_ms=50)
    legs = frozenset({"postgresql"})
    connections = 2

    def setup(self, leg: Leg) -> None:
        province, campaign = ensure_data(leg)
        self.path = f"/dashboard/{campaign.public_id}/"
        self.cookie = f"sessionid={_session(province)}; django_language=en"

    def request(self, worker: int, seq: int, rng: random.Random) -> Request:
        return Request("GET", self.path, headers=(("Cookie", self.cookie),))


@register
class DashboardProvinceRollup(DbCase):
    id = "dashboard-province-rollup"
    title = "Raw read of the province's site counters (one SELECT)"
    unit = "reads/s"
    baseline = "raw-get"
    legs = frozenset({"postgresql"})

    def setup(self, leg: Leg) -> None:
        province, campaign = ensure_data(leg)
        self.args = (PROVINCE, campaign.pk, campaign.pk, f"{province.path}%")

    @contextmanager
    def session(self, leg: Leg, worker: int) -> Iterator[DbOp]:
        conn = leg.postgres_connect()

        def read(seq: int, rng: random.Random) -> int:
            with conn.cursor() as cursor:
                cursor.execute(ROLLUP_SQL, self.args)
                cursor.fetchall()
            return 1

        try:
            yield read
        finally:
            conn.close()
