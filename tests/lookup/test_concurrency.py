"""The acceptance test for the limit: many threads, each with its own database
connection, brute-forcing one code's date of birth at once.

Every try is counted by one `INSERT … ON CONFLICT DO UPDATE … RETURNING`, so the
database puts the tries in one order: the failures must get the distinct counts
0, 1, 2, … (none lost, none shared), only the first LIMIT of them could have let
anyone in, and the right date sent after them is refused. On PostgreSQL the
threads really run at once (row lock on the counter); on SQLite the database's
write lock orders them the same way (a thread that finds the shared in-memory test
database locked tries again: nothing was counted or decided for it).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.db import OperationalError, connection

from swabline.lookup import services
from swabline.lookup.identifiers import Birth, Identifier
from swabline.lookup.models import LookupCounter
from swabline.lookup.services import Verdict
from tests.lookup.helpers import BORN, person

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 5
THREADS = 16
GUESSES = 12  # per thread, all wrong, then the right one


def _guesses(thread: int) -> list[dt.date]:
    start = dt.date(1900, 1, 1) + dt.timedelta(days=thread * GUESSES)
    return [start + dt.timedelta(days=i) for i in range(GUESSES)]


def _try(code: str, born: dt.date, client: str) -> services.Attempt:
    for _ in range(200):
        try:
            return services.attempt(
                identifier=Identifier("code", code), birth=Birth(born.year, born), client=client
            )
        except OperationalError as exc:  # SQLite's shared-cache test database: locked
            if connection.vendor != "sqlite":
                raise
            last = exc
            time.sleep(0.002)
    raise last


def brute_force(code: str) -> list[tuple[dt.date, services.Attempt]]:
    barrier = threading.Barrier(THREADS)
    results: list[tuple[dt.date, Any]] = []
    lock = threading.Lock()

    def run(thread: int) -> None:
        try:
            barrier.wait()
            for born in [*_guesses(thread), BORN]:
                tried = _try(code, born, client=f"10.1.{thread}.1")
                with lock:
                    results.append((born, tried))
        except Exception as exc:  # reported by the test
            with lock:
                results.append((BORN, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_parallel_guesses_never_get_more_than_the_limit(world, settings):
    settings.LOOKUP_MAX_FAILURES = LIMIT
    settings.LOOKUP_DAILY_MAX_FAILURES = 10_000
    p = person(world)
    results = brute_force(p.code)
    errors = [r for _, r in results if isinstance(r, Exception)]
    assert errors == []
    assert len(results) == THREADS * (GUESSES + 1)
    wrong = [a for born, a in results if born != BORN]
    # Atomic: each failure got its own place in one order, none lost.
    assert sorted(a.failures_before for a in wrong) == list(range(THREADS * GUESSES))
    # Only the first LIMIT failures were tried while the identity was open...
    assert sum(1 for a in wrong if a.failures_before < LIMIT) == LIMIT
    # ...and every right answer came after the thread's own 12 failures: all refused.
    assert [a.verdict for born, a in results if born == BORN] == [Verdict.REFUSED] * THREADS
    assert (
        LookupCounter.objects.get(key=Identifier("code", p.code).key("i")).tries
        == THREADS * GUESSES
    )


def test_right_answer_among_parallel_guesses_only_while_open(world, settings):
    """The right date in the race: let in only if fewer than LIMIT failures came
    before it in the database's order, never on the strength of a stale read."""
    settings.LOOKUP_MAX_FAILURES = LIMIT
    p = person(world)
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    lock = threading.Lock()

    def run(thread: int) -> None:
        try:
            barrier.wait()
            born = BORN if thread == THREADS // 2 else _guesses(thread)[0]
            tried = _try(p.code, born, client=f"10.2.{thread}.1")
            with lock:
                results.append((born, tried))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    [(_, right)] = [(b, a) for b, a in results if b == BORN]
    assert (right.verdict == Verdict.GRANTED) == (right.failures_before < LIMIT)
    wrong = sorted(a.failures_before for b, a in results if b != BORN)
    assert wrong == list(range(THREADS - 1))
