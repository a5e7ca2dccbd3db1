"""The import's progress, written beside the commit's transaction on PostgreSQL, is seen
by other connections at once and leaves no session setting behind: behind pgbouncer in
transaction mode a session's `SET lock_timeout` would stay on a server connection that
another client gets next (docs/deploy.md)."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from swabline.people import importing
from swabline.people.models import PeopleImport
from tests.people.test_import import HEADER, csv_bytes, upload

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="SQLite has one writer: no side connection"
    ),
]


def test_progress_is_seen_at_once_and_leaves_no_session_setting(world, tmp_path):
    imp = upload(world, tmp_path, csv_bytes([HEADER]))
    progress = importing._Progress(imp, "commit", None, side=True)
    watcher = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with transaction.atomic():  # the commit's own transaction, still open
            progress(40, 100, force=True)
            with watcher.cursor() as cursor:
                cursor.execute(
                    "SELECT phase, progress_done, progress_total FROM people_peopleimport"
                    " WHERE id = %s",
                    [imp.pk],
                )
                assert cursor.fetchone() == ("commit", 40, 100)
            side = progress._side_connection
            assert side is not None
            with side.cursor() as cursor:
                cursor.execute("SHOW lock_timeout")
                assert cursor.fetchone() == ("0",)  # SET LOCAL ended with its transaction
        progress.close()
        assert PeopleImport.objects.get(pk=imp.pk).progress_done == 40
    finally:
        watcher.close()
