"""The tube rules held by the database itself (constraints and triggers), tried with
raw writes that skip the services, and raced from two connections at once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.sampling.enums import ALLOWED_TRANSITIONS, SampleKind, TubeKind, TubeStatus
from swabline.sampling.models import Sample, Tube, TubeLabel
from tests.factories import CampaignFactory, UserFactory
from tests.sampling.factories import (
    LabelBatchFactory,
    add_event,
    apply,
    fresh_code,
    people,
)

POSTGRES = connection.vendor == "postgresql"
only_postgres = pytest.mark.skipif(not POSTGRES, reason="row locks and DELETE guard: PostgreSQL")


def _shared_memory_sqlite() -> bool:
    from django.conf import settings

    test_name = settings.DATABASES["default"].get("TEST", {}).get("NAME") or ""
    return connection.vendor == "sqlite" and (not test_name or "memory" in test_name)


# SQLite's in-memory test database is shared between threads in shared-cache mode,
# where a second writer fails at once ("database table is locked") instead of
# waiting: races need a real file (TEST_DATABASE_NAME=/tmp/x.sqlite3) or PostgreSQL.
races = pytest.mark.skipif(
    _shared_memory_sqlite(), reason="in-memory SQLite cannot queue concurrent writers"
)


def make_tube(world: Any, *, status: str = TubeStatus.OPEN, limit: int = 10, **extra: Any) -> Tube:
    return Tube.objects.create(
        code=extra.pop("code", None) or fresh_code(),
        campaign=extra.pop("campaign", world.campaign),
        site=extra.pop("site", world.site_a),
        kind=extra.pop("kind", TubeKind.POOL),
        status=status,
        pool_limit=limit,
        opened_by=world.users["sampler_a"],
        client_opened_at=timezone.now(),
        **extra,
    )


def put(world: Any, tube: Tube, person: Any, position: int, **extra: Any) -> Sample:
    return Sample.objects.create(
        tube=tube,
        person=person,
        campaign=extra.pop("campaign", tube.campaign),
        position=position,
        collected_at=timezone.now(),
        collected_by=world.users["sampler_a"],
        client_event_id=uuid.uuid4(),
        **extra,
    )


def refused(write: Callable[[], object]) -> str:
    """The database's message when it refuses `write` (inside a savepoint)."""
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        write()
    return str(caught.value)


def refused_by(write: Callable[[], object], constraint: str, *columns: str) -> None:
    """Refused by `constraint` (SQLite names a unique index's columns, not its name)."""
    message = refused(write)
    assert constraint in message or (columns and all(c in message for c in columns)), message


# --- Without races -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_guards_are_installed():
    with connection.cursor() as cursor:
        if POSTGRES:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'sampling_%%'")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        names = {row[0] for row in cursor.fetchall()}
    expected = (
        {"sampling_sample_guard", "sampling_tube_guard"}
        if POSTGRES
        else {
            "sampling_sample_insert_guard",
            "sampling_sample_update_guard",
            "sampling_tube_insert_guard",
            "sampling_tube_update_guard",
        }
    )
    assert expected <= names


@pytest.mark.django_db
def test_one_active_normal_sample_per_person_per_campaign(world):
    first, second = make_tube(world), make_tube(world, site=world.site_b)
    [person] = people(world, 1)
    put(world, first, person, 1)
    refused_by(
        lambda: put(world, second, person, 1),
        "sample_one_active_per_person", "person_id", "campaign_id",
    )  # fmt: skip
    put(world, second, person, 1, kind=SampleKind.RECOLLECT)  # a recollection is exempt
    put(world, second, person, 2, active=False, removed_at=timezone.now())
    other = CampaignFactory.create(province=world.province)
    put(world, make_tube(world, campaign=other), person, 1)  # another campaign


@pytest.mark.django_db
def test_positions_are_taken_once_and_never_past_the_tube_limit(world):
    tube = make_tube(world, limit=3)
    a, b, c, d = people(world, 4)
    put(world, tube, a, 1)
    refused_by(lambda: put(world, tube, b, 1), "sample_position_taken_once", "tube_id", "position")
    assert "sampling:" in refused(lambda: put(world, tube, b, 4))
    refused_by(lambda: put(world, tube, b, 0), "sample_position_in_range")
    refused_by(
        lambda: put(world, tube, a, 2, kind=SampleKind.RECALL),
        "sample_person_once_per_tube", "tube_id", "person_id",
    )  # fmt: skip
    put(world, tube, b, 2)
    put(world, tube, c, 3)
    assert Sample.objects.filter(tube=tube, active=True).count() == 3  # and no more fit
    assert "sampling:" in refused(lambda: put(world, tube, d, 4))


@pytest.mark.django_db
def test_a_closed_tubes_members_never_change(world):
    tube = make_tube(world)
    a, b = people(world, 2)
    sample = put(world, tube, a, 1)
    Tube.objects.filter(pk=tube.pk).update(status=TubeStatus.CLOSED)
    assert "members cannot change" in refused(lambda: put(world, tube, b, 2))
    deactivate = Sample.objects.filter(pk=sample.pk)
    assert "members cannot change" in refused(
        lambda: deactivate.update(active=False, removed_at=timezone.now())
    )
    assert "members cannot change" in refused(lambda: deactivate.update(person=b))
    moved = make_tube(world)
    assert "members cannot change" in refused(lambda: deactivate.update(tube=moved))
    deactivate.update(province_code="00")  # not a membership column
    if POSTGRES:  # SQLite keeps no DELETE guard (see migration 0002)
        assert "members cannot change" in refused(
            lambda: Sample.objects.filter(pk=sample.pk).delete()
        )
    assert "members cannot change" in refused(
        lambda: Tube.objects.filter(pk=tube.pk).update(member_count=2)
    )


@pytest.mark.django_db
def test_tube_status_moves_only_along_the_table(world):
    for current in TubeStatus.values:
        for target in set(TubeStatus.values) - {current}:
            move = Tube.objects.filter(pk=make_tube(world, status=current).pk)
            if target in ALLOWED_TRANSITIONS[current]:
                assert move.update(status=target) == 1
            else:
                assert "sampling:" in refused(partial(move.update, status=target))


@pytest.mark.django_db
def test_a_tubes_size_is_fixed_by_the_campaign_when_opened(world):
    assert "sampling:" in refused(lambda: make_tube(world, limit=11))  # campaign limit 10
    refused_by(
        lambda: make_tube(world, kind=TubeKind.INDIVIDUAL, limit=2), "tube_individual_holds_one"
    )
    refused_by(lambda: make_tube(world, limit=3, member_count=4), "tube_count_within_limit")
    tube = make_tube(world, limit=5)
    assert "sampling:" in refused(lambda: Tube.objects.filter(pk=tube.pk).update(pool_limit=6))
    other = CampaignFactory.create(province=world.province)
    [person] = people(world, 1)
    assert "sampling:" in refused(lambda: put(world, tube, person, 1, campaign=other))


@pytest.mark.django_db
def test_a_label_is_used_once(world):
    tube = make_tube(world)
    assert "code" in refused(lambda: make_tube(world, code=tube.code)).lower()
    batch = LabelBatchFactory.create(campaign=world.campaign, count=1)
    TubeLabel.objects.create(code="123", batch=batch, campaign=world.campaign)
    duplicate = refused(
        lambda: TubeLabel.objects.create(code="123", batch=batch, campaign=world.campaign)
    )
    assert "code" in duplicate.lower()


# --- Races: two stations at once ----------------------------------------------------------


def run_together(*work: Callable[[], Any]) -> list[Any]:
    """Runs each callable in its own thread (own connection), all released at once."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def runner(index: int) -> None:
        from django.db import connection as own

        try:
            barrier.wait()
            results[index] = work[index]()
        except Exception as exc:  # reported to the test, not swallowed
            results[index] = exc
        finally:
            own.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def sampler_at(world: Any, site: Any) -> Any:
    user = UserFactory.create(username=f"sampler-{site.pk}")
    accounts.assign(user=user, role=Role.SAMPLER, by=None, site=site)
    return user


@races
@pytest.mark.django_db(transaction=True)
def test_two_stations_scanning_the_same_person_at_once_exactly_one_wins(world):
    world.users["sampler_b"] = sampler_at(world, world.site_b)
    tube_a = make_tube(world)
    tube_b = make_tube(world, site=world.site_b)
    crowd = people(world, 6)
    for person in crowd:
        outcome = run_together(
            partial(apply, world, [add_event(tube_a.code, person)]),
            partial(
                apply, world, [add_event(tube_b.code, person)], user="sampler_b", site=world.site_b
            ),
        )
        errors = [r for r in outcome if isinstance(r, Exception)]
        assert not errors, errors
        fates = sorted((r[0].fate, r[0].reason) for r in outcome)
        assert fates == [("applied", ""), ("conflict", "already_sampled")], fates
    for person in crowd:
        assert Sample.objects.filter(person=person, active=True).count() == 1
    counts = sorted(Tube.objects.values_list("member_count", flat=True))
    assert sum(counts) == len(crowd)
    assert sum(counts) == Sample.objects.filter(active=True).count()


@races
@pytest.mark.django_db(transaction=True)
def test_the_last_place_in_a_tube_goes_to_one_station(world):
    world.users["sampler_a2"] = sampler_at(world, world.site_a)
    tube = make_tube(world, limit=3)
    crowd = people(world, 4)
    apply(world, [add_event(tube.code, p) for p in crowd[:2]])
    outcome = run_together(
        lambda: apply(world, [add_event(tube.code, crowd[2])]),
        lambda: apply(world, [add_event(tube.code, crowd[3])], user="sampler_a2"),
    )
    assert not [r for r in outcome if isinstance(r, Exception)], outcome
    assert sorted((r[0].fate, r[0].reason) for r in outcome) == [
        ("applied", "tube_full_closed"),
        ("conflict", "tube_closed"),
    ]
    tube.refresh_from_db()
    assert (tube.status, tube.member_count) == ("closed", 3)


@only_postgres
@pytest.mark.django_db(transaction=True)
def test_the_unique_index_itself_settles_a_race_that_skips_the_services(world):
    """Both writers checked nothing: the second insert waits for the first and fails."""
    tube_a, tube_b = make_tube(world), make_tube(world, site=world.site_b)
    [person] = people(world, 1)
    inserted = threading.Event()

    def first() -> str:
        with transaction.atomic():
            put(world, tube_a, person, 1)
            inserted.set()
            time.sleep(0.5)  # the second writer is blocked on the index meanwhile
        return "committed"

    def second() -> str:
        inserted.wait(10)
        try:
            with transaction.atomic():
                put(world, tube_b, person, 1)
        except IntegrityError as exc:
            return str(exc)
        return "committed"

    outcome = run_together(first, second)
    assert outcome[0] == "committed"
    assert "sample_one_active_per_person" in outcome[1]


@only_postgres
@pytest.mark.django_db(transaction=True)
def test_a_sample_racing_the_tubes_closing_is_refused(world):
    """The trigger reads the tube FOR SHARE: it waits for the closing transaction and
    then sees the tube closed, though its own snapshot began before the close."""
    tube = make_tube(world)
    a, b = people(world, 2)
    put(world, tube, a, 1)
    closing = threading.Event()

    def close() -> str:
        with transaction.atomic():
            Tube.objects.filter(pk=tube.pk).update(status=TubeStatus.CLOSED)
            closing.set()
            time.sleep(0.5)
        return "closed"

    def add() -> str:
        closing.wait(10)
        try:
            with transaction.atomic():
                put(world, tube, b, 2)
        except IntegrityError as exc:
            return str(exc)
        return "added"

    outcome = run_together(close, add)
    assert outcome[0] == "closed"
    assert "members cannot change" in outcome[1]
    assert Sample.objects.filter(tube=tube).count() == 1


@pytest.mark.django_db
def test_sampling_tables_carry_no_like_twin_indexes():
    """Nothing matches these columns with LIKE; each twin index was one more write per
    scan (migration 0005)."""
    if connection.vendor != "postgresql":
        pytest.skip("the _like twins are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename LIKE 'sampling\\_%%'"
            " AND indexdef LIKE '%%pattern_ops%%'"
        )
        assert cursor.fetchall() == []
