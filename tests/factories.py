"""One factory per model, and helpers that build small place trees for tests."""

from __future__ import annotations

import datetime as dt
import itertools

import factory
from django.utils import timezone

from swabline.accounts.models import User
from swabline.campaigns.enums import CampaignStatus, TestType
from swabline.campaigns.models import Campaign, Site
from swabline.core.text import fold, normalize_text
from swabline.labs.models import Lab
from swabline.people.enums import Sex
from swabline.people.models import Person
from swabline.places.enums import Level, System
from swabline.places.models import Place

_codes = itertools.count(90000)


def make_place(name: str, *, level: str = Level.WARD, parent: Place | None = None) -> Place:
    """A place with its path and province code filled in, as the loader would."""
    code = str(next(_codes)) if parent is not None else str(next(_codes) % 100 + 100)
    name = normalize_text(name)
    place = Place.objects.create(
        system=System.CURRENT,
        level=level,
        code=code,
        name=name,
        short_name=name,
        kind=name.split(" ")[0],
        name_folded=fold(name),
        parent=parent,
        path="",
        province_code=parent.province_code if parent else code,
    )
    place.path = f"{parent.path if parent else '/'}{place.pk}/"
    place.save(update_fields=["path"])
    return place


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    password = factory.django.Password("correct-horse-battery")


class CampaignFactory(factory.django.DjangoModelFactory[Campaign]):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Đợt {n}")
    starts_on = factory.LazyFunction(timezone.localdate)
    ends_on = factory.LazyAttribute(lambda o: o.starts_on + dt.timedelta(days=3))
    test_type = TestType.RT_PCR_POOLED
    pool_size_limit = 10
    status = CampaignStatus.ACTIVE


class SiteFactory(factory.django.DjangoModelFactory[Site]):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Điểm lấy mẫu {n}")
    address = "1 Đường Số 1"


class LabFactory(factory.django.DjangoModelFactory[Lab]):
    class Meta:
        model = Lab

    code = factory.Sequence(lambda n: f"LAB{n}")
    name = factory.Sequence(lambda n: f"Phòng xét nghiệm {n}")


class PersonFactory(factory.django.DjangoModelFactory[Person]):
    class Meta:
        model = Person

    full_name = factory.Sequence(lambda n: f"Nguyễn Văn Thử {n}")
    name_folded = factory.LazyAttribute(lambda o: fold(o.full_name))
    birth_date = dt.date(1980, 5, 17)
    birth_year = factory.LazyAttribute(lambda o: o.birth_date.year if o.birth_date else 1980)
    sex = Sex.MALE
    phone = factory.Sequence(lambda n: f"+8491{n:07d}")
