"""Citizens looking their results up after a release (issue #6: ≥ 1,500/s, p99 ≤ 50 ms,
ratio ≥ 0.75 of the plain GET), on PostgreSQL.

100,000 people with released outcomes (pools of 10: 2 % of pools positive, so those
people are *recall*; the rest negative), in households of four sharing a phone,
each with a personal code and a CCCD, are made once per benchmark database (COPY,
then INSERT … SELECT in the server with triggers off, as bench/lab_release_100k.py
loads) and kept between runs.

`lookup-http` sends `POST /api/v1/lookup` (JSON; the page's POST does the same
service and then redirects): 80 % right answers — by code, phone (a household
phone: only the member with that date opens) or CCCD, in any usual form — and 20 %
wrong ones (a wrong date for someone else, or a code nobody has). Both count: a
wrong answer is a 200 `found: false` and one counter upsert, as in production.
The failures go to a separate tenth of the people, who get locked as the run goes
on (a locked identity answers like a wrong one), so the right answers never hit a
lock; the client-address limit is lifted in bench/settings.py because the load
generator plays a whole province from 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from typing import Any

from bench.leg import Leg
from bench.registry import HttpCase, Request, Target, register

PEOPLE = 100_000
POOL = 10
MARK = "bench-lookup"  # household_key prefix; public_id "benchlookup<ordinal>"
PROVINCE = "B6"
FAILING_SHARE = 10  # every 10th person only ever gets wrong answers
BORN_FROM = dt.date(1935, 1, 1)


def _born(i: int) -> dt.date:
    return BORN_FROM + dt.timedelta(days=(i * 7919) % 30_000)


def _world() -> dict[str, int]:
    from swabline.accounts.models import User
    from swabline.campaigns.models import Campaign, Site
    from swabline.core.text import fold
    from swabline.labs.models import Lab
    from swabline.places.enums import Level, System
    from swabline.places.models import Place

    province, _ = Place.objects.get_or_create(
        system=System.CURRENT, level=Level.PROVINCE, code=PROVINCE,
        defaults={"name": "Tỉnh Tra Cứu", "short_name": "Tra Cứu", "kind": "Tỉnh",
                  "name_folded": fold("Tỉnh Tra Cứu"), "path": "", "province_code": PROVINCE},
    )  # fmt: skip
    if not province.path:
        province.path = f"/{province.pk}/"
        province.save(update_fields=["path"])
    ward, _ = Place.objects.get_or_create(
        system=System.CURRENT, level=Level.WARD, code=f"{PROVINCE}001",
        defaults={"name": "Phường Tra Cứu", "short_name": "Tra Cứu", "kind": "Phường",
                  "name_folded": fold("Phường Tra Cứu"), "parent": province, "path": "",
                  "province_code": PROVINCE},
    )  # fmt: skip
    if not ward.path:
        ward.path = f"{province.path}{ward.pk}/"
        ward.save(update_fields=["path"])
    today = dt.date.today()  # noqa: DTZ011 (only needs to be around today)
    campaign, _ = Campaign.objects.get_or_create(
        name="Đợt tra cứu (bench)", province=province,
        defaults={"starts_on": today, "ends_on": today + dt.timedelta(days=3), "status": "active"},
    )  # fmt: skip
    site, _ = Site.objects.get_or_create(
        campaign=campaign, ward=ward, name="Điểm tra cứu", defaults={"address": "1 Lê Lợi"}
    )
    lab, _ = Lab.objects.get_or_create(
        code="LABLOOKUP", defaults={"name": "Lab tra cứu", "place": province}
    )
    user, _ = User.objects.get_or_create(username="bench-lookup-staff")
    return {
        "ward": ward.pk,
        "campaign": campaign.pk,
        "site": site.pk,
        "lab": lab.pk,
        "user": user.pk,
    }


def _code(n: int) -> str:
    from swabline.people.codes import CODE_ALPHABET, code_check_char

    size = len(CODE_ALPHABET)
    body = "".join(CODE_ALPHABET[(n // size**k) % size] for k in range(7))
    return body + code_check_char(body)


def _seed(w: dict[str, int]) -> None:
    """People, tubes, samples, released results and current outcomes (once)."""
    from django.db import connection

    from swabline.people.models import Person

    if Person.objects.filter(household_key__startswith=MARK).exists():
        return
    taken = set(Person.objects.values_list("code", flat=True))
    now = dt.datetime.now(dt.UTC).isoformat()
    buffer = io.StringIO()
    n = 3_000_000_000  # far from the codes the search and station benches make
    for i in range(PEOPLE):
        code = _code(n)
        while code in taken:
            n += 1
            code = _code(n)
        n += 1
        born = _born(i)
        phone = f"+8470{i // 4:07d}"
        name = f"Trần Thị Tra {i}"
        row = (
            PROVINCE, f"benchlookup{i:09d}", f"LOOKUP{i:020d}", code, name, f"tran thi tra {i}",
            born.isoformat(), str(born.year), "F", phone, f"0790{i:08d}", "", str(w["ward"]),
            "1 Lê Lợi", f"{MARK}-{i // 4}", "t" if i % 4 == 0 else "f",
            f"p|tran thi tra {i}|{born.isoformat()}|{phone}", "import", now, now,
        )  # fmt: skip
        buffer.write("\t".join(row) + "\n")
    buffer.seek(0)
    columns = (
        "province_code, public_id, qr_token, code, full_name, name_folded, birth_date,"
        " birth_year, sex, phone, national_id, claimed_national_id, ward_id, address,"
        " household_key, is_household_head, identity_key, source, created_at, updated_at"
    )
    params = {**w, "pool": POOL, "tubes": PEOPLE // POOL, "now": now, "p": PROVINCE}
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor() as pg:
            pg.execute("SET session_replication_role = replica")  # no triggers while loading
            with pg.copy(f"COPY people_person ({columns}) FROM STDIN") as copy:
                while chunk := buffer.read(1 << 20):
                    copy.write(chunk)
            for statement in _LOAD:
                pg.execute(statement, params)
            pg.execute("SET session_replication_role = origin")
        for table in ("people_person", "sampling_tube", "sampling_sample", "labs_tuberesult",
                      "results_outcome"):  # fmt: skip
            cursor.execute(f"ANALYZE {table}")


# Tube t holds the people whose ordinal (from public_id) divided by POOL is t; every
# 50th tube is positive (its people: recall), the rest negative.
_ORDINAL = "substr(p.public_id, 12)::int"
_LOAD = [
    """INSERT INTO sampling_tube (province_code, code, campaign_id, site_id, kind, status,
         pool_limit, member_count, is_recall, opened_by_id, opened_at, client_opened_at,
         closed_at, voided_reason)
       SELECT %(p)s, 'LK' || lpad(t::text, 10, '0'), %(campaign)s, %(site)s, 'pool', 'released',
         %(pool)s, %(pool)s, false, %(user)s, %(now)s, %(now)s, %(now)s, ''
       FROM generate_series(0, %(tubes)s - 1) t""",
    f"""INSERT INTO sampling_sample (province_code, tube_id, person_id, campaign_id, position,
         kind, active, collected_at, collected_by_id, received_at, client_event_id)
       SELECT %(p)s, t.id, p.id, %(campaign)s, {_ORDINAL} %% %(pool)s + 1, 'normal', true,
         %(now)s, %(user)s, %(now)s, gen_random_uuid()
       FROM people_person p
       JOIN sampling_tube t ON t.code = 'LK' || lpad(({_ORDINAL} / %(pool)s)::text, 10, '0')
       WHERE p.household_key LIKE 'bench-lookup-%%'""",
    """INSERT INTO results_release (lab_id, kind, released_by_id, released_at, tubes, people,
         note)
       VALUES (%(lab)s, 'release', %(user)s, %(now)s, %(tubes)s, %(tubes)s * %(pool)s,
         'bench-lookup')""",
    """INSERT INTO labs_tuberesult (tube_id, lab_id, value, ct_values, method, well, run_id,
         source, state, current, entered_by_id, entered_at, released_by_id, released_at,
         release_id, amendment_reason, province_code)
       SELECT t.id, %(lab)s,
         CASE WHEN substr(t.code, 3)::int %% 50 = 0 THEN 'positive' ELSE 'negative' END,
         '{}', '', '', 'run-1', 'upload', 'released', true, %(user)s, %(now)s, %(user)s,
         %(now)s, (SELECT max(id) FROM results_release WHERE note = 'bench-lookup'), '',
         t.province_code
       FROM sampling_tube t WHERE t.code LIKE 'LK%%' AND t.campaign_id = %(campaign)s""",
    """INSERT INTO results_outcome (province_code, person_id, campaign_id, state, tube_id,
         sample_id, result_id, release_id, current, decided_at)
       SELECT %(p)s, s.person_id, s.campaign_id,
         CASE WHEN r.value = 'positive' THEN 'recall' ELSE 'negative' END,
         s.tube_id, s.id, r.id, r.release_id, true, %(now)s
       FROM labs_tuberesult r JOIN sampling_sample s ON s.tube_id = r.tube_id AND s.active
       WHERE r.lab_id = %(lab)s""",
]


@register
class LookupHttp(HttpCase):
    id = "lookup-http"
    title = "Result look-up, 80 % right / 20 % wrong (POST /api/v1/lookup)"
    baseline = "plain-get-http"
    target = Target(min_rate=1_500, max_p99_ms=50, min_ratio=0.75)
    legs = frozenset({"postgresql"})

    def setup(self, leg: Leg) -> None:
        from swabline.people.models import Person

        world = _world()
        _seed(world)
        rows = list(
            Person.objects.filter(household_key__startswith=MARK)
            .order_by("public_id")
            .values_list("public_id", "code", "phone", "national_id", "birth_date")
        )
        rng = random.Random(6)
        self.right: list[bytes] = []
        self.wrong: list[bytes] = []
        for public_id, code, phone, cccd, born in rows:
            assert born is not None and cccd is not None
            i = int(public_id[len("benchlookup") :])
            if i % FAILING_SHARE == 0:
                wrong_born = born + dt.timedelta(days=1 + rng.randrange(300))
                self.wrong.append(_body(rng.choice([code, "0" + phone[3:]]), wrong_born))
            elif len(self.right) < 20_000:
                typed = rng.choices(
                    [code.lower(), f"{code[:4]}-{code[4:]}", "0" + phone[3:], phone, cccd],
                    [45, 25, 10, 5, 15],
                )[0]
                self.right.append(_body(typed, born))
        # Codes nobody has (valid check character, far from every generated code).
        self.wrong += [_body(_code(9_000_000_000 + k), _born(k)) for k in range(2_000)]

    def request(self, worker: int, seq: int, rng: random.Random) -> Request:
        body = rng.choice(self.wrong) if rng.random() < 0.2 else rng.choice(self.right)
        return Request("POST", "/api/v1/lookup", body)


def _body(identifier: str, born: Any) -> bytes:
    return json.dumps(
        {"identifier": identifier, "day": born.day, "month": born.month, "year": born.year}
    ).encode()
