"""Outbox rows made the real way: people released through the results services."""

from __future__ import annotations

from typing import Any

from swabline.notifications.models import Notification
from swabline.people.models import Person
from tests.results.helpers import released
from tests.sampling.factories import people


def notified(world: Any, value: str = "negative", count: int = 2, **person: Any) -> list[Person]:
    """`count` new people (with `person` fields) in a released pool of `value`."""
    members = people(world, count)
    if person:
        for p in members:
            for name, v in person.items():
                setattr(p, name, v)
            p.save()
    released(world, value, members)
    return members


def rows(**filters: Any) -> list[Notification]:
    return list(Notification.objects.filter(**filters).order_by("id"))
