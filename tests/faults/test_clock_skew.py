"""Station clocks skewed across a whole sync (issue #8, faults).

Four phones at one site worked offline and come back: one runs 5 h slow, one
20 h fast (still inside the day allowed ahead), one jumped back 3 h mid-tube (an
NTP correction, so later scans carry earlier times), one is 3 days ahead. Their
outboxes are synced interleaved, in two batches each, and the second batch is sent
twice. The station's sequence numbers, not the clocks, decide the order: every
tube holds exactly its people (the removal undoes the right scan), every event is
recorded once, the station clock is kept as `collected_at` beside the server's
`received_at`, and the far-ahead phone's events are refused as `clock` conflicts,
recorded, with nothing applied.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone

from swabline.sampling import services
from swabline.sampling.enums import EventType, Fate
from swabline.sampling.models import Sample, StationEvent, Tube
from swabline.sampling.sync import EventIn, EventResult
from tests.sampling.factories import labels, people, scan_of

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

SKEWS = {
    "slow": [dt.timedelta(hours=-5)] * 6,
    "fast": [dt.timedelta(hours=20)] * 6,
    # open, add, add, then the clock is set back 3 h: remove_last, add, close
    "jumped": [dt.timedelta(0)] * 3 + [dt.timedelta(hours=-3)] * 3,
    "broken": [dt.timedelta(days=3)] * 6,
}


def outbox(tube: str, persons: list[Any], skews: list[dt.timedelta], now: dt.datetime,
           ) -> list[EventIn]:  # fmt: skip
    """open, add p0, add p1, remove_last (undoes p1), add p2, close — one a minute by
    the phone's own clock, numbered in the order they were done."""
    plan: list[tuple[str, Any]] = [
        (EventType.OPEN_TUBE, None), (EventType.ADD_PERSON, persons[0]),
        (EventType.ADD_PERSON, persons[1]), (EventType.REMOVE_LAST, None),
        (EventType.ADD_PERSON, persons[2]), (EventType.CLOSE_TUBE, None),
    ]  # fmt: skip
    start = now - dt.timedelta(minutes=30)
    return [
        EventIn(
            id=uuid.uuid4(),
            type=kind,
            at=start + dt.timedelta(minutes=seq) + skews[seq],
            tube=tube,
            scan=scan_of(person) if person else "",
            seq=seq,
        )
        for seq, (kind, person) in enumerate(plan)
    ]


def test_skewed_clocks_lose_nothing_double_nothing_and_keep_the_order(world):
    now = timezone.now()
    codes = labels(world, len(SKEWS))
    persons = {name: people(world, 3) for name in SKEWS}
    boxes = {
        name: outbox(code, persons[name], SKEWS[name], now)
        for name, code in zip(SKEWS, codes, strict=True)
    }
    answers: dict[str, list[EventResult]] = {name: [] for name in SKEWS}

    def sync(name: str, events: list[EventIn]) -> list[EventResult]:
        return services.apply_events(
            by=world.users["sampler_a"], site=world.site_a, device_id=f"phone-{name}",
            events=events,
        )  # fmt: skip

    for half in (slice(0, 3), slice(3, 6)):
        for name in SKEWS:  # interleaved: each phone's batch in turn
            answers[name] += sync(name, boxes[name][half])
    replays = {name: sync(name, boxes[name][3:]) for name in SKEWS}  # the second batch again

    for name in ("slow", "fast", "jumped"):
        assert [r.fate for r in answers[name]] == [Fate.APPLIED] * 6, name
        assert {(r.fate, r.first_fate) for r in replays[name]} == {(Fate.DUPLICATE, Fate.APPLIED)}
        tube = Tube.objects.get(code=boxes[name][0].tube)
        assert (tube.status, tube.member_count) == ("closed", 2)
        held = Sample.objects.filter(tube=tube, removed_at__isnull=True).order_by("position")
        expected = [persons[name][0], persons[name][2]]
        assert [s.person_id for s in held] == [p.pk for p in expected], name
        # The removal undid the second scan although its clock reads earlier.
        removed = Sample.objects.get(tube=tube, removed_at__isnull=False)
        assert removed.person_id == persons[name][1].pk
        # The phone's clock is kept as said; the server's time beside it.
        by_person = {s.person_id: s for s in held}
        first_add, last_add = boxes[name][1], boxes[name][4]
        assert by_person[expected[0].pk].collected_at == first_add.at
        assert by_person[expected[1].pk].collected_at == last_add.at
        for sample in held:
            assert abs(sample.received_at - timezone.now()) < dt.timedelta(minutes=5)

    # The far-ahead phone: every event refused as "clock", recorded (the station
    # shows it; nothing vanishes), a replay answers the same, nothing applied.
    assert [(r.fate, r.reason) for r in answers["broken"]] == [(Fate.CONFLICT, "clock")] * 6
    assert {(r.first_fate, r.first_reason) for r in replays["broken"]} == {(Fate.CONFLICT, "clock")}
    recorded = StationEvent.objects.filter(client_event_id__in=[e.id for e in boxes["broken"]])
    assert sorted(recorded.values_list("fate", "reason")) == [(Fate.CONFLICT, "clock")] * 6
    assert not Tube.objects.filter(code=boxes["broken"][0].tube).exists()
    assert not Sample.objects.filter(person__in=persons["broken"]).exists()

    # Each event of the three good phones recorded once, whatever was sent twice.
    good = [e.id for name in ("slow", "fast", "jumped") for e in boxes[name]]
    assert StationEvent.objects.filter(client_event_id__in=good).count() == len(good)
    assert Sample.objects.filter(removed_at__isnull=True).count() == 6
