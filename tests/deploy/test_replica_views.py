"""Dashboards and exports, through the real views and middleware, read the replica
(a throwaway primary with the test database's schema, and its streaming replica);
other pages never do, and a lagging replica hands the reads back to the primary."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from swabline.core.db_router import ReplicaRouter
from tests.conftest import World, build_world
from tests.dashboard.scenario import run_day
from tests.deploy.clusters import PG_BIN, Cluster, cluster, needs_pg_bin, streaming_replica
from tests.deploy.test_replica import add_alias, drop_alias, replayed
from tests.factories import PersonFactory

pytestmark = [
    needs_pg_bin(),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="streaming replication"),
    pytest.mark.django_db(transaction=True),
]
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
REPLICA = "view_replica"


def copy_schema(into: Cluster) -> None:
    """The test database's schema (tables, triggers, functions) into `into`."""
    source = connections["default"].settings_dict
    dump = subprocess.run(
        [str(PG_BIN / "pg_dump"), "--schema-only", "--no-owner", "-h", source["HOST"],
         "-p", str(source["PORT"] or 5432), "-U", source["USER"], source["NAME"]],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    subprocess.run(
        [str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", into.url],
        input=dump.stdout, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def replicated() -> Iterator[tuple[Cluster, Cluster]]:
    """`default` is a throwaway primary for this test's thread; the replica streams it."""
    with cluster(55442) as primary:
        copy_schema(primary)
        with streaming_replica(primary, 55443) as replica:
            original = connections["default"]
            swapped = original.__class__(
                {**original.settings_dict, "HOST": "127.0.0.1", "PORT": primary.port,
                 "NAME": "postgres", "USER": "postgres"},
                "default",
            )  # fmt: skip
            connections["default"] = swapped
            add_alias(REPLICA, replica.url)
            cache.clear()  # cached grants and figures of the other database
            try:
                yield primary, replica
            finally:
                drop_alias(REPLICA)
                swapped.close()
                connections["default"] = original
                cache.clear()


def replica_reads_of(client: Any, url: str, *, pair: tuple[Cluster, Cluster]) -> tuple[int, int]:
    """Status, and how many of the page's own queries the replica answered (once it
    has replayed what the previous request wrote: sessions, audit events)."""
    if not pair[1].query("SELECT pg_is_wal_replay_paused()")[0][0]:
        replayed(*pair)
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        response = client.get(url, **EN)
        if response.streaming:
            b"".join(response.streaming_content)
    own = [q for q in on_replica.captured_queries if "pg_last_wal" not in q["sql"]]
    return response.status_code, len(own)


def test_dashboards_and_exports_read_the_replica_other_pages_never(
    replicated: tuple[Cluster, Cluster],
) -> None:
    primary, replica = replicated
    world: World = build_world()
    run_day(world)
    PersonFactory.create_batch(3, ward=world.ward_a)
    province, ward = world.client_for("province"), world.client_for("ward_a")
    replayed(primary, replica)
    progress = reverse("dashboard:progress", kwargs={"public_id": world.campaign.public_id})
    router = ReplicaRouter("default", REPLICA, max_lag_seconds=2, check_seconds=0)
    with override_settings(DATABASE_ROUTERS=[router]):
        status, on_replica = replica_reads_of(province, progress, pair=replicated)
        assert status == 200 and on_replica > 0
        status, on_replica = replica_reads_of(
            ward, reverse("people:export-csv") + "?ward=" + str(world.ward_a.pk), pair=replicated
        )
        assert status == 200 and on_replica > 0
        daily = reverse(
            "reports:daily", kwargs={"campaign_id": world.campaign.public_id, "fmt": "xlsx"}
        )
        for url in (reverse("dashboard:home"), reverse("reports:index"), daily):
            status, on_replica = replica_reads_of(province, url, pair=replicated)
            assert status in (200, 302) and on_replica > 0, url
        status, on_replica = replica_reads_of(ward, reverse("people:list"), pair=replicated)
        assert (status, on_replica) == (200, 0), "pages not listed read the primary"

        replica.query("SELECT pg_wal_replay_pause()")
        PersonFactory.create(ward=world.ward_a)
        replayed(primary, replica, position="receive")
        time.sleep(2.5)
        status, on_replica = replica_reads_of(province, progress, pair=replicated)
        assert (status, on_replica) == (200, 0), "a lagging replica is not read"
