"""The result cases every FHIR test covers, built through the real services
(`tests/results/helpers.py`): individual negative and positive, a negative and a
positive pool, the recalled member's individual retest (positive), a corrected
result, a tube rejected by the lab, a person born in a known year only, and one
with no CCCD and no phone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.labs.models import TubeResult
from swabline.people.models import Consent, Person
from swabline.results import services as results
from swabline.sampling.enums import SampleKind, TubeKind
from swabline.shipping import services as shipping
from tests.factories import PersonFactory, UserFactory
from tests.results.helpers import released, tube_with
from tests.shipping.helpers import in_transit


@dataclass
class Cases:
    negative: Person  # individual tube, negative
    positive: Person  # individual tube, positive
    pool_negative: list[Person]
    pool_positive: list[Person]  # all recalled; [0] retested individually: positive
    corrected: Person  # individual negative, corrected to positive
    rejected: list[Person]  # a pool the lab rejected
    year_only: Person  # born 1961, day unknown; individual negative
    bare: Person  # no CCCD, no phone; in the negative pool
    other_ward: Person  # ward B, individual negative
    other_province: Person  # ward C (another province), individual negative
    results: dict[str, TubeResult]


def person(world: Any, **fields: Any) -> Person:
    fields.setdefault("ward", world.ward_a)
    return PersonFactory.create(**fields)


def individual(world: Any, who: Person, value: str, **kw: Any) -> TubeResult:
    return released(world, value, [who], kind=TubeKind.INDIVIDUAL, **kw)


def build(world: Any) -> Cases:
    negative = person(world, full_name="Nguyễn Thị Bích Ngọc", national_id="079186001234", sex="F")
    positive = person(world, full_name="Trần Văn Hùng")
    year_only = person(world, full_name="Lê Văn Tám", birth_date=None, birth_year=1961)
    bare = person(world, full_name="Phạm Thị Mai", phone="", national_id=None, sex="F")
    corrected = person(world, full_name="Võ Minh Khoa")
    other_ward = person(world, full_name="Đặng Văn B", ward=world.ward_b)
    other_province = person(world, full_name="Hồ Văn C", ward=world.ward_c)
    pool_negative = [bare, person(world), person(world)]
    pool_positive = [person(world), person(world), person(world)]
    rejected = [person(world), person(world)]

    out: dict[str, TubeResult] = {}
    out["negative"] = individual(world, negative, "negative")
    out["positive"] = individual(world, positive, "positive")
    out["year_only"] = individual(world, year_only, "negative")
    out["other_ward"] = individual(world, other_ward, "negative", site=world.site_b)
    out["pool_negative"] = released(world, "negative", pool_negative)
    out["pool_positive"] = released(world, "positive", pool_positive)
    out["retest"] = released(
        world,
        "positive",
        [pool_positive[0]],
        kind=TubeKind.INDIVIDUAL,
        sample_kind=SampleKind.RECALL,
    )
    first = individual(world, corrected, "negative")
    out["corrected"] = results.amend_result(
        by=world.users["labsupervisor_a"], result=first, value="positive", reason="Nhầm giếng"
    )
    tube = tube_with(world, rejected)
    in_transit(world, [tube])
    shipping.reject_tube(
        by=world.users["labtech_a"], lab=world.lab_a, code=tube.code, reason="leaked"
    )
    # Another province's person sampled at site A still lives in ward C.
    out["other_province"] = individual(world, other_province, "negative")
    return Cases(
        negative, positive, pool_negative, pool_positive, corrected, rejected, year_only, bare,
        other_ward, other_province, out,
    )  # fmt: skip


def partner(world: Any, name: str = "partner", *, place: Any = None) -> Any:
    user = UserFactory.create(username=name)
    scope = {"place": place} if place is not None else {}
    accounts.assign(user=user, role=Role.PARTNER, by=None, **scope)
    return user


def consent(who: Person, partner_user: Any) -> Consent:
    return Consent.objects.create(person=who, partner=partner_user)


def token(user: Any) -> dict[str, str]:
    _, raw = accounts.issue_token(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
