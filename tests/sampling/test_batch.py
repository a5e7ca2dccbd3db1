"""The one-call batch (sync/batch.py and PostgreSQL's `sampling_play_batch`) answers
and writes exactly what the sync engine does, and hands everything else to it.

Each scenario is played twice from the same starting point, inside a transaction
rolled back in between: once as a syncing station plays it (the one-call path on
PostgreSQL), once with `SAMPLING_ONE_CALL_BATCH = False` (the engine alone). Answers
and rows must agree; tubes are compared by code, since a rolled-back transaction
does not give its tube ids back. On SQLite both runs are the engine.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from swabline.campaigns.enums import CampaignStatus
from swabline.campaigns.models import Campaign
from swabline.people.cccd import CccdCard, format_cccd
from swabline.people.enums import Sex
from swabline.people.models import Person
from swabline.sampling import sync
from swabline.sampling.enums import EventType, TubeKind
from swabline.sampling.models import (
    Sample,
    SamplingSettings,
    StationEvent,
    Tube,
)
from swabline.sampling.sync import EventIn, batch
from tests.sampling.equivalence import answer, snapshot
from tests.sampling.factories import add_event, apply, event, labels, open_event, people

pytestmark = pytest.mark.django_db

DEVICE = "batch-test-device"
ON_POSTGRESQL = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the one-call batch is PostgreSQL's"
)


def _play(world: Any, settings: Any, batches: list[list[EventIn]], *, one_call: bool):
    """Each batch is synced in turn; returns the answers, the rows and the SQL sent.
    Rolled back afterwards."""
    settings.SAMPLING_ONE_CALL_BATCH = one_call
    sync._touched.clear()
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        answers = [[answer(r) for r in apply(world, b, device=DEVICE)] for b in batches]
        rows = snapshot()
        transaction.set_rollback(True)
    return answers, rows, [q["sql"] for q in queries.captured_queries]


def _same_both_ways(
    world: Any, settings: Any, batches: list[list[EventIn]], *, written: bool | None = True
) -> list[list[tuple[Any, ...]]]:
    """The answers, after checking both paths agree. On PostgreSQL, `written` says
    whether the database function wrote the last batch (True), was asked and handed
    it to the engine (False), or either (None)."""
    fast, fast_rows, sql = _play(world, settings, batches, one_call=True)
    engine, engine_rows, engine_sql = _play(world, settings, batches, one_call=False)
    assert fast == engine
    for name in fast_rows:
        assert fast_rows[name] == engine_rows[name], name
    assert not any("sampling_play_batch" in s for s in engine_sql)
    if connection.vendor == "postgresql" and written is not None:
        called = [i for i, s in enumerate(sql) if "sampling_play_batch" in s]
        assert called, "the batch was never offered to the database function"
        # The engine locks a batch's tubes first: after the call, only if handed over.
        engine_ran = any("FOR UPDATE" in s and "sampling_tube t" in s for s in sql[called[-1] :])
        assert engine_ran is not written
    return fast


def _outbox(tubes: list[tuple[str, list[Any]]], *, kind: str = "") -> list[EventIn]:
    events = []
    for code, crowd in tubes:
        events.append(open_event(code, kind=kind))
        events += [add_event(code, p) for p in crowd]
    return events


def test_an_outbox_of_tubes_and_scans_is_the_same_either_way(world, settings):
    """Labels issued to the site, a supplier's pre-printed label, a tube that fills and
    closes itself, an individual tube, scans by QR, by typed code and by public id;
    shuffled in transit (the station's sequence numbers decide)."""
    SamplingSettings.objects.create(campaign=world.campaign, label_pattern=r"VN[0-9]{8}")
    first, second = labels(world, 2)
    full = people(world, world.campaign.pool_size_limit)
    some = people(world, 3)
    alone = people(world, 1)
    events = _outbox([(first, full), (second, some), ("VN12345678", [])])
    events += _outbox([(labels(world)[0], alone)], kind=TubeKind.INDIVIDUAL)
    typed, public = people(world, 2)
    events.append(event(EventType.ADD_PERSON, second, scan=typed.display_code))
    events.append(event(EventType.ADD_PERSON, second, person=public.public_id))
    random.Random(7).shuffle(events)
    [answers] = _same_both_ways(world, settings, [events])
    by_id = {a[0]: a for a in answers}
    assert all(a[2] == "applied" for a in answers)
    closing = [e for e in events if e.tube == first and e.type == EventType.ADD_PERSON]
    last = max(closing, key=lambda e: e.seq or 0)
    assert by_id[last.id][3] == "tube_full_closed"


def test_scans_into_tubes_opened_by_an_earlier_sync_are_the_same_either_way(world, settings):
    code = labels(world)[0]
    earlier, later = people(world, 4), people(world, 6)
    batches = [_outbox([(code, earlier)]), [add_event(code, p) for p in later]]
    answers = _same_both_ways(world, settings, batches)
    assert answers[1][-1][3] == "tube_full_closed"


@pytest.mark.parametrize(
    "spoil",
    [
        "replayed",
        "already_sampled",
        "twice_in_batch",
        "overfilled",
        "label_used",
        "label_other_site",
        "label_unknown",
        "tube_unknown",
        "other_site_tube",
        "scan_before_open",
        "person_unknown",
        "cccd",
        "override",
        "clock",
        "closed_campaign",
    ],
)
def test_a_batch_with_anything_unusual_is_the_engines_and_the_same_either_way(
    world, settings, spoil
):
    code, spare = labels(world, 2)
    crowd = people(world, 5)
    events = _outbox([(code, crowd[:3])])
    earlier: list[list[EventIn]] = []
    written: bool | None = False  # asked, and handed over
    if spoil == "replayed":
        earlier = [events[:2]]
    elif spoil == "already_sampled":
        earlier = [_outbox([(spare, crowd[:1])])]
    elif spoil == "twice_in_batch":
        events.append(add_event(code, crowd[0]))
    elif spoil == "overfilled":
        events = _outbox([(code, people(world, world.campaign.pool_size_limit + 1))])
    elif spoil == "label_used":
        earlier = [_outbox([(spare, crowd[3:4])])]
        events.append(open_event(spare))
    elif spoil == "label_other_site":
        events.append(open_event(labels(world, site=world.site_b)[0]))
    elif spoil == "label_unknown":
        events.append(open_event("NOT-A-LABEL-1"))
    elif spoil == "tube_unknown":
        events.append(add_event("NOT-A-LABEL-2", crowd[4]))
    elif spoil == "other_site_tube":
        theirs = labels(world, site=world.site_b)[0]
        apply(world, [open_event(theirs)], site=world.site_b, user="admin")
        events.append(add_event(theirs, crowd[4]))
    elif spoil == "scan_before_open":
        events.insert(0, add_event(spare, crowd[4], seq=0))
        events.append(open_event(spare))
    elif spoil == "person_unknown":  # refused before the database is asked
        events.append(event(EventType.ADD_PERSON, code, scan="ABCDEFGH"))
        written = None
    elif spoil == "cccd":  # a chip card: the engine matches its holder by ID
        holder = people(world, 1)[0]
        Person.objects.filter(pk=holder.pk).update(national_id="072161012345")
        scan = format_cccd(CccdCard(
            national_id="072161012345", old_id="", full_name=holder.full_name,
            birth_date=dt.date(holder.birth_year, 1, 1), sex=Sex.FEMALE, address="12 Lê Lợi",
            issued_on=dt.date(2021, 4, 20),
        ))  # fmt: skip
        events.append(event(EventType.ADD_PERSON, code, scan=scan))
        written = None
    elif spoil == "override":  # sampled twice on purpose
        earlier = [_outbox([(spare, crowd[4:5])])]
        events.append(add_event(code, crowd[4], override=True))
        written = None
    elif spoil == "clock":
        events.append(add_event(code, crowd[4], at=timezone.now() - dt.timedelta(days=3650)))
        written = None
    elif spoil == "closed_campaign":
        Campaign.objects.filter(pk=world.campaign.pk).update(status=CampaignStatus.CLOSED)
        world.site_a.campaign.refresh_from_db()
        written = None
    answers = _same_both_ways(world, settings, [*earlier, events], written=written)
    usual = {("applied", ""), ("applied", "tube_full_closed")}
    assert any((a[2], a[3]) not in usual for a in answers[-1])


@ON_POSTGRESQL
def test_the_function_writes_nothing_when_it_hands_a_batch_over(world):
    code = labels(world)[0]
    crowd = people(world, 3)
    apply(world, _outbox([(labels(world)[0], crowd[:1])]))
    before = (Sample.objects.count(), StationEvent.objects.count(), Tube.objects.count())
    events = _outbox([(code, crowd)])
    site = world.site_a
    answer = batch.play(
        by=world.users["sampler_a"], site=site, device_id=DEVICE,
        events=sorted(events, key=lambda e: e.seq or 0), now=events[0].at, after=lambda: None,
    )  # fmt: skip
    assert answer is None
    assert (Sample.objects.count(), StationEvent.objects.count(), Tube.objects.count()) == before


def test_only_opens_and_plain_scans_are_offered(world):
    code = labels(world)[0]
    crowd = people(world, 2)
    plain = _outbox([(code, crowd)])
    now = plain[0].at
    offered = batch.eligible(plain, world.site_a, now)
    assert offered == (connection.vendor == "postgresql")
    for spoiled in (
        [*plain, event(EventType.CLOSE_TUBE, code)],
        [*plain, add_event(code, crowd[0], kind="recall")],
        [*plain, add_event(code, crowd[0], resolves=uuid.uuid4())],
        [plain[0], plain[0]],
        plain[:1],
    ):
        assert not batch.eligible(spoiled, world.site_a, now)
