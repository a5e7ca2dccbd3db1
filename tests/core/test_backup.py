"""`manage.py backup`: an online SQLite copy that opens, holds the rows and rotates."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from swabline.people.models import Person
from tests.conftest import World
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's online backup")
def test_the_copy_holds_the_rows_passes_its_check_and_old_copies_rotate(
    world: World, tmp_path: Path
) -> None:
    PersonFactory.create_batch(5, ward=world.ward_a)
    made = []
    for _ in range(3):
        call_command("backup", dir=str(tmp_path), keep=2, stdout=(out := _Out()))
        made.append(Path(out.text.strip()))
    kept = sorted(tmp_path.glob("swabline-*.sqlite3"))
    assert kept == sorted(made[1:]), "the oldest copy is removed"
    assert not list(tmp_path.glob("*.partial"))
    copy = sqlite3.connect(made[-1])
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        names = {row[0] for row in copy.execute("SELECT full_name FROM people_person")}
    finally:
        copy.close()
    assert names == set(Person.objects.values_list("full_name", flat=True))
    assert len(names) == 5


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's online backup")
def test_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(CommandError):
        call_command("backup", dir=str(tmp_path), keep=0)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="PostgreSQL refuses")
def test_postgresql_is_pointed_to_its_own_tools(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="pg_basebackup"):
        call_command("backup", dir=str(tmp_path))
    assert not list(tmp_path.iterdir())


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
