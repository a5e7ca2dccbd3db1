"""Staff person search with 1,000,000 people (issue: p95 ≤ 50 ms).

The people are made once per database with COPY (PostgreSQL) or executemany
(SQLite, 100,000 there: a commune-sized demo database, not a province) and kept
between runs. Two cases: a ward's data-entry volunteer searching their ward, and a
province official searching the whole province, each typing names without
diacritics (with and without a year of birth), phones and printed codes.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench.leg import Leg
from bench.registry import HttpCase, Request, Target, register

if TYPE_CHECKING:
    from swabline.places.models import Place

WARDS = 100
PEOPLE = {"postgresql": 1_000_000, "sqlite": 100_000}
MARK = "bench-search"
QUERIES_PER_PROCESS = 2_000


def _world(leg: Leg) -> tuple[Place, list[Place]]:
    """A bench province with WARDS wards (made once)."""
    from swabline.core.text import fold
    from swabline.places.enums import Level, System
    from swabline.places.models import Place

    province, _ = Place.objects.get_or_create(
        system=System.CURRENT,
        level=Level.PROVINCE,
        code="B1",
        defaults={"name": "Tỉnh Đo Lường", "short_name": "Đo Lường", "kind": "Tỉnh",
                  "name_folded": fold("Tỉnh Đo Lường"), "path": "", "province_code": "B1"},
    )  # fmt: skip
    if not province.path:
        province.path = f"/{province.pk}/"
        province.save(update_fields=["path"])
    wards = []
    for i in range(WARDS):
        name = f"Phường Đo {i:03d}"
        ward, created = Place.objects.get_or_create(
            system=System.CURRENT,
            level=Level.WARD,
            code=f"B1{i:03d}",
            defaults={"name": name, "short_name": name, "kind": "Phường", "name_folded": fold(name),
                      "parent": province, "path": "", "province_code": "B1"},
        )  # fmt: skip
        if created or not ward.path:
            ward.path = f"{province.path}{ward.pk}/"
            ward.save(update_fields=["path"])
        wards.append(ward)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Place._meta.db_table}")
    return province, wards


def _ensure_people(leg: Leg, wards: list[Place]) -> None:
    from django.db import connection

    from swabline.people.models import Person

    wanted = PEOPLE[leg.vendor]
    have = Person.objects.filter(household_key__startswith=MARK).count()
    if have >= wanted:
        _vacuum(leg)
        return
    # Other cases (the station's) register people with random codes in the same
    # database: the generated codes step around those.
    taken = set(Person.objects.values_list("code", flat=True))
    rows = _rows(wards, have, wanted, taken)
    columns = ("public_id", "qr_token", "code", "full_name", "name_folded", "birth_date", "birth_year",
               "sex", "phone", "claimed_national_id", "ward_id", "province_code", "address",
               "household_key", "is_household_head", "identity_key", "source", "created_at", "updated_at")  # fmt: skip
    table = Person._meta.db_table
    if leg.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.connection
            with (
                raw.cursor() as pg,
                pg.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        _vacuum(leg)
    else:
        marks = ", ".join(["%s"] * len(columns))
        with connection.cursor() as cursor:
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(row)
                if len(batch) == 5000:
                    cursor.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch
                    )
                    batch = []
            if batch:
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch
                )
            cursor.execute("ANALYZE")


def _vacuum(leg: Leg) -> None:
    """VACUUM ANALYZE the people, as autovacuum does on a production server (deploy/):
    the search with a year reads names from an index alone, which needs the table's
    visibility map. The benchmark's server may run with autovacuum off (this
    machine's does), and other cases add people to the same table between runs."""
    from django.db import connection

    if leg.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) people_person")


def _rows(wards: list[Place], start: int, stop: int, taken: set[str]) -> Iterator[tuple[Any, ...]]:
    from swabline.core.text import fold
    from swabline.demo import names
    from swabline.people.codes import CODE_ALPHABET, code_check_char

    rng = random.Random(start)
    family = [n for n, _ in names.FAMILY_NAMES]
    weights = [w for _, w in names.FAMILY_NAMES]
    now = datetime.now(UTC)
    for i in range(start, stop):
        female = rng.random() < 0.5
        full = " ".join([rng.choices(family, weights)[0],
                         rng.choice(names.MIDDLE_FEMALE if female else names.MIDDLE_MALE),
                         rng.choice(names.GIVEN_FEMALE if female else names.GIVEN_MALE)])  # fmt: skip
        year = rng.randint(1935, 2020)
        phone = f"+84{rng.choice(names.MOBILE_PREFIXES)}{i % 10_000_000:07d}"
        n = i
        while True:
            body = "".join(
                CODE_ALPHABET[(n // len(CODE_ALPHABET) ** k) % len(CODE_ALPHABET)] for k in range(7)
            )
            if body + code_check_char(body) not in taken:
                break
            n += 10 * PEOPLE["postgresql"]  # past every code this generator makes
        ward = wards[i % len(wards)]
        folded = fold(full)
        yield (
            uuid.UUID(int=i + 1).hex, f"BENCHSEARCH{i:015d}", body + code_check_char(body), full, folded,
            None, year, "F" if female else "M", phone, "", ward.pk, "B1", "1 Đường Đo",
            f"{MARK}-{i // 4}", i % 4 == 0, f"p|{folded}|{year}|{phone}|bench{i}", "import", now, now,
        )  # fmt: skip


def _token(username: str, **scope: object) -> str:
    from swabline.accounts import services
    from swabline.accounts.enums import Role
    from swabline.accounts.models import User

    user, _ = User.objects.get_or_create(username=username)
    role = Role.OFFICIAL if "province" in username else Role.DATA_ENTRY
    services.assign(user=user, role=role, by=None, **scope)  # type: ignore[arg-type]
    _, raw = services.issue_token(user=user, name="bench")
    return raw


class _Search(HttpCase):
    baseline = "plain-get-http"
    target = Target(max_p99_ms=50)
    whole_province = False

    def setup(self, leg: Leg) -> None:
        from swabline.people.models import Person

        province, wards = _world(leg)
        _ensure_people(leg, wards)
        ward = wards[7]
        if self.whole_province:
            self.token = _token("bench-search-province", place=province)
            sample = Person.objects.filter(household_key__startswith=MARK)
        else:
            self.token = _token("bench-search-ward", place=ward)
            sample = Person.objects.filter(ward=ward)
        rows = list(
            sample.order_by("?").values_list("name_folded", "birth_year", "phone", "code")[:500]
        )
        rng = random.Random(1)
        queries = []
        for folded, year, phone, code in rows:
            kind = rng.random()
            if kind < 0.5:
                queries.append(f"{folded} {year}")
            elif kind < 0.7:
                queries.append(folded)
            elif kind < 0.85:
                queries.append("0" + phone[3:])
            else:
                queries.append(f"{code[:4]}-{code[4:]}")
        self.queries = queries

    def request(self, worker: int, seq: int, rng: random.Random) -> Request:
        from urllib.parse import quote

        query = rng.choice(self.queries)
        return Request(
            "GET",
            f"/api/v1/people?q={quote(query)}&limit=20",
            headers=(("Authorization", f"Bearer {self.token}"),),
        )


@register
class WardSearch(_Search):
    id = "people-search-ward-http"
    title = "Person search by a ward volunteer (GET /api/v1/people)"


@register
class ProvinceSearch(_Search):
    id = "people-search-province-http"
    title = "Person search by a province official (GET /api/v1/people)"
    whole_province = True
