"""The one-call scan (sync/quick.py and PostgreSQL's `sampling_add_scanned`) answers
and writes exactly what the sync engine does, and hands everything else to it.

Each scenario is played twice from the same starting point, inside a transaction
rolled back in between: once as a station online plays it (the one-call path on
PostgreSQL), once with `SAMPLING_ONE_CALL_SCAN = False` (the engine alone). Results
and rows must agree. On SQLite both runs are the engine (the test still holds).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from swabline.audit.models import AuditEvent
from swabline.campaigns.models import Campaign
from swabline.people import codes
from swabline.sampling import sync
from swabline.sampling.enums import EventType, TubeKind
from swabline.sampling.models import Sample, StationEvent, Tube
from swabline.sampling.sync import EventIn
from tests.sampling.equivalence import answer, snapshot
from tests.sampling.factories import add_event, apply, event, labels, open_event, people

pytestmark = pytest.mark.django_db

DEVICE = "quick-test-device"


def _open(world: Any, *, site: Any = None, kind: str = TubeKind.POOL) -> Tube:
    code = labels(world, site=site)[0]
    [result] = apply(world, [open_event(code, kind=kind)], site=site, user="admin")
    assert result.fate == "applied", result.reason
    return Tube.objects.get(code=code)


def _play(world: Any, settings: Any, steps: list[tuple[EventIn, Any]], *, one_call: bool):
    """Each step is applied alone (one request each); returns the answers, the rows
    and the SQL sent. Rolled back afterwards."""
    settings.SAMPLING_ONE_CALL_SCAN = one_call
    sync._touched.clear()  # this server process has not seen the device yet
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        # The device synced a moment ago, as an online station has (its last sync is
        # noted when the transaction commits: here, at once).
        with TestCase.captureOnCommitCallbacks(execute=True):
            apply(world, [event(EventType.CLOSE_TUBE, "123456789012")], device=DEVICE)
        answers = [answer(apply(world, [e], site=site, device=DEVICE)[0]) for e, site in steps]
        rows = snapshot()
        transaction.set_rollback(True)
    return answers, rows, [q["sql"] for q in queries.captured_queries]


def _same_both_ways(world: Any, settings: Any, steps: list[tuple[EventIn, Any]]) -> list[Any]:
    quick, quick_rows, sql = _play(world, settings, steps, one_call=True)
    engine, engine_rows, engine_sql = _play(world, settings, steps, one_call=False)
    assert quick == engine
    for name in quick_rows:
        assert quick_rows[name] == engine_rows[name], name
    assert not any("sampling_add_scanned" in s for s in engine_sql)
    if connection.vendor == "postgresql":
        assert any("sampling_add_scanned" in s for s in sql)
    return quick


def test_a_tube_filled_scan_by_scan_is_the_same_either_way(world, settings):
    tube = _open(world)
    crowd = people(world, tube.pool_limit + 1)
    steps = [(add_event(tube.code, p), None) for p in crowd]  # the last finds it closed
    answers = _same_both_ways(world, settings, steps)
    assert [a[2:4] for a in answers] == [("applied", "")] * (tube.pool_limit - 1) + [
        ("applied", "tube_full_closed"),
        ("conflict", "tube_closed"),
    ]


def test_every_kind_of_key_and_every_refusal_is_the_same_either_way(world, settings):
    tube, other, individual = _open(world), _open(world), _open(world, kind=TubeKind.INDIVIDUAL)
    elsewhere = _open(world, site=world.site_b)
    a, b, c, d, e, f = people(world, 6)
    first = add_event(tube.code, a)
    steps: list[tuple[EventIn, Any]] = [
        (first, None),
        (first, None),  # replayed
        (add_event(tube.code, a), None),  # already in the tube
        (add_event(other.code, a), None),  # already sampled in the campaign
        (add_event(other.code, a, override=True), None),  # … on purpose
        (event(EventType.ADD_PERSON, tube.code, scan=codes.format_person_code(b.code)), None),
        (event(EventType.ADD_PERSON, tube.code, person=c.public_id), None),
        (event(EventType.ADD_PERSON, tube.code, person=d.public_id, kind="normal"), None),
        (event(EventType.ADD_PERSON, tube.code, scan="SW1:nobody"), None),
        (event(EventType.ADD_PERSON, tube.code, scan="not a code at all"), None),
        (event(EventType.ADD_PERSON, "999999999999", person=e.public_id), None),  # no tube
        (add_event(elsewhere.code, e), None),  # another site's tube
        (add_event(individual.code, f), None),  # an individual tube fills at once
        (event(EventType.REMOVE_LAST, tube.code), None),
        (add_event(tube.code, d), None),  # d was last: removed, then scanned again
    ]
    answers = _same_both_ways(world, settings, steps)
    assert [a[2:4] for a in answers[:5]] == [
        ("applied", ""),
        ("duplicate", "replayed"),
        ("duplicate", "already_in_tube"),
        ("conflict", "already_sampled"),
        ("applied", "override"),
    ]
    assert answers[12][2:4] == ("applied", "tube_full_closed")
    assert answers[14][2:4] == ("applied", "")


@pytest.mark.django_db(transaction=True)
def test_a_lone_scan_inside_no_transaction_is_one_statement(world, settings):
    """What a request does: no BEGIN/COMMIT around the call, and nothing left behind
    when the function hands the event to the engine."""
    if connection.vendor != "postgresql":
        pytest.skip("the one-call path is PostgreSQL's")
    tube = _open(world)
    x, y = people(world, 2)
    apply(world, [add_event(tube.code, x)], device=DEVICE)  # writes the device's sync
    with CaptureQueriesContext(connection) as queries:
        [done] = apply(world, [add_event(tube.code, y)], device=DEVICE)
    assert done.fate == "applied"
    assert len(queries.captured_queries) == 2  # the person, then the call
    assert "sampling_add_scanned" in queries.captured_queries[1]["sql"]
    # A second scan of y: the call answers NULL (already in the tube) and writes
    # nothing; the engine then answers the duplicate.
    again = add_event(tube.code, y)
    [dup] = apply(world, [again], device=DEVICE)
    assert (dup.fate, dup.reason) == ("duplicate", "already_in_tube")
    assert Sample.objects.filter(person=y).count() == 1
    assert StationEvent.objects.get(client_event_id=again.id).fate == "duplicate"
    assert Tube.objects.get(pk=tube.pk).member_count == 2


def test_the_call_refuses_what_the_rules_forbid_even_when_asked_directly(world):
    """The function is no way around the tube rules: asked to put someone in twice,
    into a full tube, or into another site's tube, it writes nothing."""
    if connection.vendor != "postgresql":
        pytest.skip("the one-call path is PostgreSQL's")
    pool, single = _open(world), _open(world, kind=TubeKind.INDIVIDUAL)
    elsewhere = _open(world, site=world.site_b)
    a, b, c = people(world, 3)
    site, user = world.site_a, world.users["sampler_a"]

    def call(tube: Tube, person: Any, site: Any = site, campaign: int | None = None) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sampling_add_scanned(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " now(), '{}'::jsonb)",
                [uuid.uuid4(), tube.code, site.pk, campaign or site.campaign_id,
                 site.province_code, person.pk, "x", 1990, user.pk, "", "", tube.opened_at],
            )  # fmt: skip
            return cursor.fetchone()[0]

    other = Campaign.objects.create(
        name="Other", province=world.province, starts_on=site.campaign.starts_on,
        ends_on=site.campaign.ends_on, pool_size_limit=10, status="active",
    )  # fmt: skip
    assert call(pool, b, campaign=other.pk) is None  # not the tube's campaign

    assert call(pool, a) == [1, 10]
    assert call(pool, a) is None  # already in the tube
    assert call(single, a) is None  # already sampled in the campaign
    assert call(elsewhere, b) is None  # not this site's tube
    assert call(single, b) == [1, 1]  # full, so closed
    assert call(single, c) is None
    assert sorted(Sample.objects.values_list("tube_id", "person_id")) == sorted(
        [(pool.pk, a.pk), (single.pk, b.pk)]
    )
    assert Tube.objects.get(pk=single.pk).status == "closed"
    assert AuditEvent.objects.filter(action="tube.closed", subject_id=str(single.pk)).count() == 1
    # The function's word to the guards and counters ends with its own writes: in
    # the same transaction, a write into the closed tube is refused again.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('swabline.one_call_scan', true)")
        assert cursor.fetchone()[0] in ("", None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Sample.objects.create(
            tube=single, person=c, campaign_id=single.campaign_id,
            province_code=single.province_code, position=2, collected_by=user,
            collected_at=single.opened_at,
        )  # fmt: skip
