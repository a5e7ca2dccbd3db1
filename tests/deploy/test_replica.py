"""The replica router against a real streaming replica (two throwaway clusters):
reads marked for the replica go there while it keeps up, and to the primary when it
lags more than the limit or is down."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from swabline.audit.models import AuditEvent
from swabline.core.databases import database_settings
from swabline.core.db_router import ReplicaRouter, replica_reads
from tests.deploy.clusters import (
    Cluster,
    cluster,
    needs_pg_bin,
    once_per_run,
    streaming_replica,
)

pytestmark = [needs_pg_bin(), once_per_run()]

PRIMARY, REPLICA = "drill_primary", "drill_replica"
MAX_LAG = 4.0


def add_alias(alias: str, url: str) -> None:
    """A connection to `url` under `alias`, opened (Django's test cases refuse to open
    connections to aliases they were not told about, but use open ones)."""
    entry = {"default": {}, alias: database_settings(url, conn_max_age=None, connect_timeout=2)}
    connections.settings[alias] = connections.configure_settings(entry)[alias]
    connections[alias].connect()


def drop_alias(alias: str) -> None:
    connections[alias].close()
    del connections[alias]
    del connections.settings[alias]


@pytest.fixture
def pair(django_db_blocker: pytest.FixtureRequest) -> Iterator[tuple[Cluster, Cluster]]:
    with (
        cluster(55440) as primary,
        streaming_replica(primary, 55441) as replica,
        django_db_blocker.unblock(),  # type: ignore[attr-defined]
    ):
        add_alias(PRIMARY, primary.url)
        add_alias(REPLICA, replica.url)
        try:
            with connections[PRIMARY].schema_editor() as editor:
                editor.create_model(AuditEvent)
            yield primary, replica
        finally:
            drop_alias(PRIMARY)
            drop_alias(REPLICA)


def write(n: int) -> None:
    AuditEvent.objects.bulk_create(
        [AuditEvent(action="drill", subject_type="row", subject_id=str(i)) for i in range(n)]
    )


def replayed(primary: Cluster, replica: Cluster, *, position: str = "replay") -> None:
    """Wait until the replica has replayed (or received) all the primary has written."""
    ((lsn,),) = primary.query("SELECT pg_current_wal_lsn()::text")
    for _ in range(200):
        if replica.query(f"SELECT pg_last_wal_{position}_lsn() >= %s::pg_lsn", lsn)[0][0]:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the replica did not {position} the WAL")


def read_count(router: ReplicaRouter) -> tuple[str, int]:
    """Where a marked read goes, and what it counts (captured on the replica's side)."""
    with replica_reads(), CaptureQueriesContext(connections[REPLICA]) as on_replica:
        alias = router.db_for_read(AuditEvent)
        count = AuditEvent.objects.count()
    went_to_replica = any("audit_auditevent" in q["sql"] for q in on_replica.captured_queries)
    assert went_to_replica == (alias == REPLICA)
    return alias, count


def test_reads_follow_the_replica_and_fall_back_when_it_lags_or_is_down(
    pair: tuple[Cluster, Cluster],
) -> None:
    primary, replica = pair
    router = ReplicaRouter(PRIMARY, REPLICA, max_lag_seconds=MAX_LAG, check_seconds=0)
    with override_settings(DATABASE_ROUTERS=[router]):
        write(3)
        assert router.db_for_write(AuditEvent) == PRIMARY
        replayed(primary, replica)
        assert read_count(router) == (REPLICA, 3)
        assert router.db_for_read(AuditEvent) == PRIMARY, "unmarked reads stay on the primary"
        with transaction.atomic(using=PRIMARY):
            write(1)
            with replica_reads():
                assert AuditEvent.objects.count() == 4, "a transaction reads its own writes"

        # Replay paused: a fresh write is missing on the replica; within the limit the
        # replica still serves (the stale count shows the read really went there)…
        write(1)  # a fresh commit replayed just before the pause: the lag starts now
        replayed(primary, replica)
        replica.query("SELECT pg_wal_replay_pause()")
        write(1)
        replayed(primary, replica, position="receive")
        assert read_count(router) == (REPLICA, 5)
        # …and once it is older than the limit, reads go to the primary.
        time.sleep(MAX_LAG + 0.5)
        assert read_count(router) == (PRIMARY, 6)
        assert router.state().reason == "replica lags"
        assert (router.state().lag_seconds or 0) > MAX_LAG

        replica.query("SELECT pg_wal_replay_resume()")
        replayed(primary, replica)
        assert read_count(router) == (REPLICA, 6)

        replica.stop("immediate")
        assert read_count(router) == (PRIMARY, 6)
        assert router.state().reason == "replica unreachable"

        replica.start()
        replica.wait_ready()
        replayed(primary, replica)
        assert read_count(router) == (REPLICA, 6), "back in use once it answers again"


def test_the_replicas_state_is_asked_once_per_check_interval(
    pair: tuple[Cluster, Cluster],
) -> None:
    primary, replica = pair
    router = ReplicaRouter(PRIMARY, REPLICA, max_lag_seconds=MAX_LAG, check_seconds=60)
    with override_settings(DATABASE_ROUTERS=[router]):
        replayed(primary, replica)
        assert read_count(router)[0] == REPLICA
        replica.stop("immediate")
        # Within the interval the last answer stands (one check per process per
        # REPLICA_CHECK_SECONDS, not one per query)…
        with replica_reads():
            assert router.db_for_read(AuditEvent) == REPLICA
        router._checked_at -= 61
        # …and the next check after it sees the replica down.
        assert read_count(router) == (PRIMARY, 0)
