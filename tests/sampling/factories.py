"""Factories and small helpers for sampling tests (one factory per model, as
tests/factories.py does for the others)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import factory
from django.utils import timezone

from swabline.people import qr
from swabline.people.models import Person
from swabline.sampling import services
from swabline.sampling.codes import damm_digit
from swabline.sampling.enums import EventType, LabelBatchKind
from swabline.sampling.models import LabelBatch, TubeLabel
from swabline.sampling.sync import EventIn, EventResult
from tests.factories import PersonFactory

_serial = itertools.count(1)


def fresh_code() -> str:
    """A valid generated-looking code, distinct per call (not registered as a label)."""
    body = f"{7_000_000_0000 + next(_serial):011d}"
    return body + damm_digit(body)


class LabelBatchFactory(factory.django.DjangoModelFactory[LabelBatch]):
    class Meta:
        model = LabelBatch

    kind = LabelBatchKind.GENERATED
    count = 0


class TubeLabelFactory(factory.django.DjangoModelFactory[TubeLabel]):
    class Meta:
        model = TubeLabel

    code = factory.LazyFunction(fresh_code)
    campaign = factory.LazyAttribute(lambda o: o.batch.campaign)
    site = factory.LazyAttribute(lambda o: o.batch.site)


def labels(world: Any, count: int = 1, *, site: Any = None) -> list[str]:
    """`count` label codes issued for the world's campaign (to `site`, default site A)."""
    batch = LabelBatchFactory.create(
        campaign=world.campaign, site=site or world.site_a, count=count
    )
    return [TubeLabelFactory.create(batch=batch).code for _ in range(count)]


def people(world: Any, count: int, *, ward: Any = None) -> list[Person]:
    return [PersonFactory.create(ward=ward or world.ward_a) for _ in range(count)]


def scan_of(person: Person) -> str:
    return qr.encode_payload(person)


_seq = itertools.count(1)


def event(type_: str, tube: str = "", *, at: dt.datetime | None = None, **fields: Any) -> EventIn:
    """A station event with a fresh id and the next sequence number."""
    fields.setdefault("seq", next(_seq))
    return EventIn(
        id=fields.pop("id", None) or uuid.uuid4(),
        type=type_,
        at=at or timezone.now(),
        tube=tube,
        **fields,
    )


def open_event(tube: str, **fields: Any) -> EventIn:
    return event(EventType.OPEN_TUBE, tube, **fields)


def add_event(tube: str, person: Person, **fields: Any) -> EventIn:
    return event(EventType.ADD_PERSON, tube, scan=scan_of(person), **fields)


def apply(world: Any, events: list[EventIn], *, user: str = "sampler_a", site: Any = None,
          device: str = "") -> list[EventResult]:  # fmt: skip
    return services.apply_events(
        by=world.users[user],
        site=site or world.site_a,
        device_id=device or str(uuid.uuid4()),
        events=events,
    )


def fates(results: list[EventResult]) -> list[tuple[str, str]]:
    return [(r.fate, r.reason) for r in results]
