"""The demo campaign: one province, four real wards, two sites, one lab, a user per
role and 1,000 synthetic people. Seeding twice changes nothing (users get the
current DEMO_PASSWORD again)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.accounts.models import User
from swabline.campaigns.enums import CampaignStatus, TestType
from swabline.campaigns.models import Campaign, CampaignWard, Site
from swabline.core.text import fold, normalize_text
from swabline.demo import names
from swabline.labs.models import Lab
from swabline.people.enums import DeclarationSource, Sex
from swabline.people.identity import identity_key
from swabline.people.models import Person
from swabline.places.enums import Level, System
from swabline.places.models import Place

PROVINCE_CODE = "80"  # Tây Ninh (merged with Long An on 1 July 2025)
# Wards that were Tây Ninh city before 2025; the first is the demo ward official's.
WARD_CODES = ["25459", "25480", "25567", "25630"]
WARD_TARGETS = {"25459": 21000, "25480": 16000, "25567": 19000, "25630": 14000}
CAMPAIGN_NAME = "Đợt 3 — Tây Ninh"
PEOPLE = 1000
SEED = 20210815

# (username, role, full name); the scope is decided in `seed_users`.
DEMO_USERS = [
    ("admin", Role.ADMIN, "Quản trị viên"),
    ("province", Role.OFFICIAL, "Cán bộ tỉnh"),
    ("ward", Role.OFFICIAL, "Cán bộ phường"),
    ("sampler", Role.SAMPLER, "Nhân viên lấy mẫu"),
    ("dataentry", Role.DATA_ENTRY, "Tình nguyện viên nhập liệu"),
    ("courier", Role.COURIER, "Nhân viên vận chuyển"),
    ("labtech", Role.LAB_TECHNICIAN, "Kỹ thuật viên xét nghiệm"),
    ("labsupervisor", Role.LAB_SUPERVISOR, "Trưởng phòng xét nghiệm"),
]


class PlacesMissing(RuntimeError):
    pass


@dataclass
class DemoWorld:
    province: Place
    wards: list[Place]
    campaign: Campaign
    sites: list[Site]
    lab: Lab
    users: dict[str, User]
    people_created: int


def _place(level: str, code: str) -> Place:
    try:
        return Place.objects.get(system=System.CURRENT, level=level, code=code)
    except Place.DoesNotExist as exc:
        raise PlacesMissing("Run `manage.py load_places` before seeding the demo.") from exc


@transaction.atomic
def seed_demo(*, password: str | None = None, people: int = PEOPLE) -> DemoWorld:
    """Create (or bring up to date) the demo campaign. Idempotent."""
    province = _place(Level.PROVINCE, PROVINCE_CODE)
    wards = [_place(Level.WARD, code) for code in WARD_CODES]
    campaign = _seed_campaign(province, wards)
    sites = _seed_sites(campaign, wards)
    lab, _ = Lab.objects.get_or_create(
        code="CDC-TN",
        defaults={
            "name": "Phòng xét nghiệm CDC Tây Ninh",
            "place": province,
            "address": "22 Trần Hưng Đạo, Phường Tân Ninh",
        },
    )
    users = _seed_users(password or settings.DEMO_PASSWORD, province, wards[0], sites[0], lab)
    created = _seed_people(wards, people)
    from swabline.results.demo import seed_lab_work  # the lab chain's demo work (issue #5)

    seed_lab_work(campaign=campaign, site=sites[0], ward=wards[0], lab=lab, users=users)
    return DemoWorld(province, wards, campaign, sites, lab, users, created)


def _seed_campaign(province: Place, wards: list[Place]) -> Campaign:
    today = timezone.localdate()
    campaign, _ = Campaign.objects.get_or_create(
        name=CAMPAIGN_NAME,
        province=province,
        defaults={
            "starts_on": today,
            "ends_on": today + dt.timedelta(days=3),
            "test_type": TestType.RT_PCR_POOLED,
            "pool_size_limit": 10,
            "status": CampaignStatus.ACTIVE,
        },
    )
    for ward in wards:
        CampaignWard.objects.get_or_create(
            campaign=campaign, ward=ward, defaults={"target_population": WARD_TARGETS[ward.code]}
        )
    return campaign


def _seed_sites(campaign: Campaign, wards: list[Place]) -> list[Site]:
    specs = [
        (wards[0], "Trường THCS Võ Văn Truyện", "Đường Cách Mạng Tháng Tám"),
        (wards[1], "Nhà văn hóa khu phố Ninh Phước", "Đường Huỳnh Tấn Phát"),
    ]
    sites = []
    for ward, name, address in specs:
        site, _ = Site.objects.get_or_create(
            campaign=campaign, name=name, defaults={"ward": ward, "address": address}
        )
        sites.append(site)
    return sites


def _seed_users(
    password: str, province: Place, ward: Place, site: Site, lab: Lab
) -> dict[str, User]:
    scopes: dict[str, dict[str, object]] = {
        "admin": {},
        "province": {"place": province},
        "ward": {"place": ward},
        "sampler": {"site": site},
        "dataentry": {"place": ward},
        "courier": {"site": site},
        "labtech": {"lab": lab},
        "labsupervisor": {"lab": lab},
    }
    users = {}
    for username, role, full_name in DEMO_USERS:
        last, _, first = full_name.rpartition(" ")
        user, _ = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last}
        )
        user.set_password(password)
        user.is_staff = user.is_superuser = role == Role.ADMIN
        user.save(update_fields=["password", "is_staff", "is_superuser"])
        accounts.assign(user=user, role=role, by=None, **scopes[username])  # type: ignore[arg-type]
        users[username] = user
    return users


def _seed_people(wards: list[Place], count: int) -> int:
    """Synthetic people from a fixed random seed, so a re-run makes the same ones."""
    rng = random.Random(SEED)
    family = [n for n, _ in names.FAMILY_NAMES]
    weights = [w for _, w in names.FAMILY_NAMES]
    rows = []
    for i in range(count):
        sex = Sex.FEMALE if rng.random() < 0.51 else Sex.MALE
        female = sex == Sex.FEMALE
        full_name = normalize_text(
            " ".join(
                [
                    rng.choices(family, weights)[0],
                    rng.choice(names.MIDDLE_FEMALE if female else names.MIDDLE_MALE),
                    rng.choice(names.GIVEN_FEMALE if female else names.GIVEN_MALE),
                ]
            )
        )
        birth = dt.date(1935, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 88))
        ward = wards[i % len(wards)]
        household = f"demo-hh-{i // 4:04d}"
        phone = _phone(rng) if rng.random() < 0.85 else ""
        rows.append(
            Person(
                public_id=f"{rng.getrandbits(128):032x}",
                full_name=full_name,
                name_folded=fold(full_name),
                birth_date=birth,
                birth_year=birth.year,
                sex=sex,
                phone=phone,
                national_id=_cccd(rng, sex, birth)
                if birth.year <= 2010 and rng.random() < 0.8
                else None,
                ward=ward,
                province_code=ward.province_code,
                address=f"{rng.randint(1, 400)} {rng.choice(names.STREETS)}",
                household_key=household,
                is_household_head=i % 4 == 0,
                source=DeclarationSource.STAFF,
                identity_key=identity_key(
                    full_name=full_name,
                    birth_date=birth,
                    birth_year=birth.year,
                    phone=phone,
                    ward_id=ward.pk,
                    household_key=household,
                ),
            )
        )
    before = Person.objects.count()
    Person.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return Person.objects.count() - before


def _phone(rng: random.Random) -> str:
    return f"+84{rng.choice(names.MOBILE_PREFIXES)}{rng.randrange(10**7):07d}"


def _cccd(rng: random.Random, sex: str, birth: dt.date) -> str:
    """A well-formed CCCD: issuing province (072 = Tây Ninh), century+sex digit, year, serial."""
    century = (birth.year // 100) - 19  # 0 for 1900s, 1 for 2000s
    sex_digit = century * 2 + (1 if sex == Sex.FEMALE else 0)
    return f"072{sex_digit}{birth.year % 100:02d}{rng.randrange(10**6):06d}"
