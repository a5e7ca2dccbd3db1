"""Django through pgbouncer in transaction mode (a real pgbouncer, one server
connection shared by every client): with `DATABASE_POOLER=transaction`'s settings the
ORM, chunked iteration and the look-up's raw statements work; with the look-up's
prepared statements left on, the second client breaks — which is why the setting
exists."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import override_settings

from swabline.core.databases import database_settings
from swabline.lookup.queries import select
from swabline.people.models import Person
from swabline.sampling import bulk
from tests.conftest import World
from tests.deploy.clusters import needs, serving, workdir
from tests.factories import PersonFactory

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PORT = 55448
pytestmark = [
    needs(Path(PGBOUNCER).exists(), "apt-get install -y pgbouncer"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="pgbouncer pools PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def pgbouncer() -> Iterator[str]:
    """pgbouncer on PORT in transaction mode with ONE server connection per pool,
    in front of the test database's server; yields a URL to the test database."""
    db = connections["default"].settings_dict
    here = workdir("swabline-pgbouncer-")
    (here / "users.txt").write_text(f'"{db["USER"]}" ""\n')
    (here / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={db['HOST']} port={db['PORT'] or 5432}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {PORT}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {here}/users.txt\npool_mode = transaction\n"
        "default_pool_size = 1\nmax_client_conn = 20\nlog_connections = 0\nlog_disconnections = 0\n"
        f"logfile = {here}/pgbouncer.log\nignore_startup_parameters = extra_float_digits\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        os.chmod(here / name, 0o644)
    user = "postgres" if os.geteuid() == 0 else None  # pgbouncer refuses to run as root
    try:
        with serving([PGBOUNCER, str(here / "pgbouncer.ini")], PORT, user=user):
            yield f"postgresql://{db['USER']}@127.0.0.1:{PORT}/{db['NAME']}"
    finally:
        shutil.rmtree(here, ignore_errors=True)


def as_client(url: str, work: Callable[[], Any]) -> Any:
    """Run `work` in a thread whose `default` connection goes through pgbouncer
    (a separate client of the pooler), configured as settings.py would."""
    out: dict[str, Any] = {}

    def run() -> None:
        entry = {"default": database_settings(url, conn_max_age=0, pooler="transaction")}
        connections["default"] = _wrapper(entry["default"])
        try:
            out["value"] = work()
        except Exception as error:  # the test compares what each client saw
            out["error"] = error
        finally:
            connections["default"].close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    return out


def _wrapper(settings_dict: dict[str, Any]) -> Any:
    configured = connections.configure_settings({"default": settings_dict})["default"]
    backend = connections["default"].__class__
    return backend(configured, "default")


def client_work() -> tuple[int, int, list[tuple[Any, ...]]]:
    """What a web process does: a count, a chunked iteration (a server-side cursor
    without the pooler setting), a write in a transaction, a look-up statement and a
    station's raw statement."""
    count = Person.objects.count()
    iterated = sum(1 for _ in Person.objects.iterator(chunk_size=2))
    with transaction.atomic():
        Person.objects.filter(pk__lt=0).update(full_name="x")
    return count, iterated, select("SELECT %s::int + 1", [41]) + bulk.select("SELECT %s::int", [7])


def test_two_clients_share_one_server_connection_with_the_pooler_settings(
    world: World, pgbouncer: str
) -> None:
    PersonFactory.create_batch(5, ward=world.ward_a)
    with override_settings(LOOKUP_PREPARED_STATEMENTS=False, PREPARED_STATEMENTS=False):
        first = as_client(pgbouncer, client_work)
        second = as_client(pgbouncer, client_work)
    assert first == second == {"value": (5, 5, [(42,), (7,)])}


def test_prepared_statements_break_behind_the_pooler(world: World, pgbouncer: str) -> None:
    with override_settings(LOOKUP_PREPARED_STATEMENTS=True, PREPARED_STATEMENTS=True):
        first = as_client(pgbouncer, client_work)
        second = as_client(pgbouncer, client_work)
    assert first == {"value": (0, 0, [(42,), (7,)])}
    assert "already exists" in str(second["error"])
