"""People to look up, with their identifiers and dates of birth."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import Client

from swabline.people.models import Person
from tests.factories import PersonFactory

BORN = dt.date(1961, 8, 15)


def person(world: Any, **fields: Any) -> Person:
    fields.setdefault("birth_date", BORN)
    fields.setdefault("ward", world.ward_a)
    return PersonFactory.create(**fields)


def form(
    identifier: str, born: dt.date | None = BORN, *, year: int | None = None
) -> dict[str, Any]:
    """The look-up form's fields for `identifier` and a date (or a year alone)."""
    if born is None:
        return {"identifier": identifier, "day": "", "month": "", "year": str(year)}
    return {
        "identifier": identifier,
        "day": str(born.day),
        "month": str(born.month),
        "year": str(born.year),
    }


def post(client: Client, identifier: str, born: dt.date | None = BORN, **kw: Any) -> Any:
    return client.post("/lookup/", form(identifier, born, **kw))
