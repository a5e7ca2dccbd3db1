"""A batch of 500 events sent three times in shuffled order, from two processes at
once, leaves the database exactly as one application of it does (the issue's
replay test). The two-process part needs PostgreSQL: the in-memory SQLite test
database is not shared with other processes."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import random
import uuid
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from swabline.audit.models import AuditEvent
from swabline.sampling import services
from swabline.sampling.enums import EventType
from swabline.sampling.models import Sample, StationEvent, Tube, TubeLabel
from swabline.sampling.sync import EventIn, EventResult
from tests.sampling.factories import labels, people, scan_of

ROUNDS = 3


def station_batch(world: Any) -> list[EventIn]:
    """500 events as one station logged them: 40 full tubes (closing themselves),
    5 with an undone scan closed by hand, one cancelled, one closed with 9 people,
    and 3 scans of people already sampled."""
    codes = labels(world, 48)
    crowd = iter(people(world, 437))
    start = timezone.now() - dt.timedelta(hours=2)
    events: list[EventIn] = []

    def add(type_: str, code: str, **fields: Any) -> None:
        seq = len(events)
        at = start + dt.timedelta(seconds=10 * seq)
        events.append(EventIn(uuid.uuid4(), type_, at, tube=code, seq=seq, **fields))

    first_tube: list[Any] = []
    for index, code in enumerate(codes[:40]):
        add(EventType.OPEN_TUBE, code)
        for _ in range(10):
            person = next(crowd)
            if index == 0:
                first_tube.append(person)
            add(EventType.ADD_PERSON, code, scan=scan_of(person))
    for code in codes[40:45]:
        add(EventType.OPEN_TUBE, code)
        for _ in range(5):
            add(EventType.ADD_PERSON, code, scan=scan_of(next(crowd)))
        add(EventType.REMOVE_LAST, code)
        add(EventType.CLOSE_TUBE, code)
    add(EventType.OPEN_TUBE, codes[45])
    for _ in range(3):
        add(EventType.ADD_PERSON, codes[45], scan=scan_of(next(crowd)))
    add(EventType.VOID_TUBE, codes[45], reason="dropped")
    add(EventType.OPEN_TUBE, codes[46])
    for _ in range(9):
        add(EventType.ADD_PERSON, codes[46], person=next(crowd).public_id)
    add(EventType.CLOSE_TUBE, codes[46])
    add(EventType.OPEN_TUBE, codes[47])
    for person in first_tube[:3]:
        add(EventType.ADD_PERSON, codes[47], scan=scan_of(person))
    assert len(events) == 500
    return events


def signature() -> dict[str, Any]:
    """Everything the batch writes, without surrogate keys or server clocks."""
    return {
        "tubes": sorted(
            Tube.objects.values_list("code", "status", "member_count", "kind", "voided_reason")
        ),
        "samples": sorted(
            Sample.objects.values_list(
                "tube__code", "person_id", "position", "active", "kind", "client_event_id"
            )
        ),
        "events": sorted(
            (str(i), f, r, p)
            for i, f, r, p in StationEvent.objects.values_list(
                "client_event_id", "fate", "reason", "person_id"
            )
        ),
        "audit": sorted(
            (action, json.dumps(data, sort_keys=True))
            for action, data in AuditEvent.objects.filter(subject_type="sampling.tube").values_list(
                "action", "data"
            )
        ),
        "labels_used": TubeLabel.objects.filter(used_at__isnull=False).count(),
    }


def send(world: Any, events: list[EventIn], seed: int) -> list[EventResult]:
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    return services.apply_events(
        by=world.users["sampler_a"], site=world.site_a, device_id=f"device-{seed}", events=shuffled
    )


def once(world: Any, events: list[EventIn]) -> dict[str, Any]:
    """The signature of one application (rolled back afterwards)."""
    with transaction.atomic():
        results = send(world, events, seed=0)
        assert {r.fate for r in results} == {"applied", "conflict"}
        assert sum(r.fate == "conflict" for r in results) == 3
        expected = signature()
        transaction.set_rollback(True)
    assert not Tube.objects.exists()
    return expected


def check_each_event_applied_once(rounds: list[list[tuple[str, str, str]]]) -> None:
    firsts: dict[str, int] = {}
    for results in rounds:
        for event_id, fate, reason in results:
            if (fate, reason) != ("duplicate", "replayed"):
                firsts[event_id] = firsts.get(event_id, 0) + 1
    assert len(firsts) == 500 and set(firsts.values()) == {1}


def brief(results: list[EventResult]) -> list[tuple[str, str, str]]:
    return [(str(r.id), r.fate, r.reason) for r in results]


@pytest.mark.django_db(transaction=True)
def test_replaying_in_one_process_changes_nothing(world):
    events = station_batch(world)
    expected = once(world, events)
    rounds = [brief(send(world, events, seed)) for seed in range(1, ROUNDS + 1)]
    assert signature() == expected
    check_each_event_applied_once(rounds)


def _station_process(world: Any, events: list[EventIn], worker: int, queue: Any) -> None:
    """A second station process: its own connection, three shuffled sends."""
    try:
        connections.close_all()
        rounds = [brief(send(world, events, seed=10 * worker + i)) for i in range(ROUNDS)]
        queue.put((worker, rounds))
    except BaseException as exc:  # the parent reports it
        queue.put((worker, repr(exc)))
    finally:
        connections.close_all()
        queue.close()
        queue.join_thread()  # flush the report before leaving
        os._exit(0)  # never run pytest's teardown in a forked child


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs a database shared by processes"
)
@pytest.mark.django_db(transaction=True)
def test_two_processes_replaying_in_shuffled_order_leave_one_application(world):
    events = station_batch(world)
    expected = once(world, events)
    connections.close_all()  # the children must not share the parent's connection
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [
        context.Process(target=_station_process, args=(world, events, worker, queue))
        for worker in (1, 2)
    ]
    for child in children:
        child.start()
    reports = dict(queue.get(timeout=120) for _ in children)
    for child in children:
        child.join(30)
    assert all(isinstance(r, list) for r in reports.values()), reports
    assert signature() == expected
    check_each_event_applied_once([rounds for report in reports.values() for rounds in report])
