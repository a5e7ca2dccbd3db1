"""`manage.py backup`: a consistent copy of the SQLite database while it is in use.

Uses SQLite's online backup API (page by page, writers keep writing), checks the
copy with `PRAGMA integrity_check`, and keeps the newest `--keep` copies. PostgreSQL
is backed up with its own tools (base backups and WAL archiving), not with this
command.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils.translation import gettext as _

PREFIX = "swabline-"
SUFFIX = ".sqlite3"


def backup_sqlite(target_dir: Path, *, keep: int, now: dt.datetime | None = None) -> Path:
    """Copy the default SQLite database into `target_dir`; return the new file."""
    if connection.vendor != "sqlite":
        raise CommandError(
            _(
                "This command backs up SQLite only. Back up PostgreSQL with "
                "pg_basebackup and WAL archiving (or pg_dump)."
            )
        )
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    final = target_dir / f"{PREFIX}{stamp}{SUFFIX}"
    partial = final.with_suffix(".partial")
    connection.ensure_connection()
    source = connection.connection
    copy = sqlite3.connect(partial)
    try:
        # Small steps let writers in between; a write during the copy restarts it.
        source.backup(copy, pages=256, sleep=0.01)
        (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
    finally:
        copy.close()
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        message = _("The copy failed its integrity check: %(verdict)s")
        raise CommandError(message % {"verdict": verdict})
    partial.rename(final)
    for old in sorted(target_dir.glob(f"{PREFIX}*{SUFFIX}"))[:-keep]:
        old.unlink()
    return final


class Command(BaseCommand):
    help = "Back up the SQLite database online into a directory, keeping the newest copies."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir",
            default=getattr(settings, "BACKUP_DIR", str(Path(settings.BASE_DIR) / "backups")),
            help="Directory for the copies (default: BACKUP_DIR or ./backups).",
        )
        parser.add_argument("--keep", type=int, default=7, help="How many copies to keep.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["keep"] < 1:
            raise CommandError(_("Keep at least one copy."))
        path = backup_sqlite(Path(options["dir"]), keep=options["keep"])
        self.stdout.write(str(path))
