"""`manage.py import_people FILE --place CODE [--dry-run]`: the bulk import from a shell.

The same service as the web upload (swabline.people.importing): every row is checked
and the valid ones written in one pass and one transaction (`--dry-run`: checked only).
Draws a progress bar on the terminal and prints a summary; `--errors-out` writes the
failing rows as an XLSX with an error column. Files up to PEOPLE_IMPORT_CLI_MAX_BYTES
(500 MB) are accepted here, against PEOPLE_IMPORT_MAX_BYTES (50 MB) on the web.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from swabline.accounts.models import User
from swabline.people import importing
from swabline.people.models import ImportMode, ImportStatus, PeopleImport
from swabline.places.enums import System
from swabline.places.models import Place

PHASES = {"reading": "Checking", "staging": "Preparing", "writing": "Saving"}
BAR_WIDTH = 30


class ProgressBar:
    """A one-line progress bar redrawn with carriage returns (at most 10 times a second)."""

    def __init__(self, stream: Any, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.last = 0.0
        self.drawn = False
        self.started = time.monotonic()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        fraction = min(1.0, done / total) if total else 0.0
        filled = int(BAR_WIDTH * fraction)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        label = PHASES.get(phase, phase)
        elapsed = now - self.started
        self.stream.write(f"\r{label:<10} [{bar}] {fraction:6.1%}  {elapsed:6.1f} s", ending="")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("")
            self.drawn = False


class Command(BaseCommand):
    help = (
        "Import people from an XLSX or CSV list into a place (a ward, or a place above "
        "wards with a ward column). Validates every row first; re-importing a file "
        "creates nobody twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The .xlsx or .csv file.")
        parser.add_argument(
            "--place", required=True, help="Code of the ward (or province) to import into."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the rows, report, write nothing."
        )
        parser.add_argument(
            "--mode",
            choices=ImportMode.values,
            default=ImportMode.VALID_ROWS,
            help="valid_rows: import the valid rows; all_or_nothing: import only if all valid.",
        )
        parser.add_argument(
            "--as-user",
            help="Import as this user (their permissions apply); default: the system.",
        )
        parser.add_argument(
            "--errors-out", type=Path, help="Write the failing rows to this .xlsx file."
        )
        parser.add_argument("--no-progress", action="store_true", help="Draw no progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        place = self._place(options["place"])
        user = None
        if options["as_user"]:
            user = User.objects.filter(username=options["as_user"]).first()
            if user is None:
                raise CommandError(f"No user {options['as_user']!r}.")
        enabled = not options["no_progress"] and options.get("verbosity", 1) >= 1
        bar = ProgressBar(self.stdout, enabled)
        try:
            imp = importing.import_file(
                path=path,
                place=place,
                by=user,
                mode=options["mode"],
                dry_run=options["dry_run"],
                progress=bar,
            )
        except importing.ImportRejected as exc:
            bar.finish()
            raise CommandError(" ".join(str(m) for m in exc.messages)) from exc
        except PermissionDenied as exc:
            bar.finish()
            raise CommandError(f"{user} may not import people into {place}.") from exc
        finally:
            bar.finish()
        if options["errors_out"] and (imp.rows_invalid or imp.rows_duplicate_in_file):
            Path(options["errors_out"]).write_bytes(importing.failing_rows_xlsx(imp))
        self._summary(imp, bar.started, options)
        if imp.status == ImportStatus.FAILED:
            raise CommandError(imp.failure)

    def _place(self, code: str) -> Place:
        places = list(Place.objects.filter(code=code, system=System.CURRENT))
        if not places:
            raise CommandError(f"No current place with code {code!r}.")
        if len(places) > 1:
            levels = ", ".join(p.level for p in places)
            raise CommandError(f"Several places have code {code!r} ({levels}).")
        return places[0]

    def _summary(self, imp: PeopleImport, started: float, options: dict[str, Any]) -> None:
        out = self.stdout
        info = imp.file_info or {}
        details = ", ".join(
            f"{key} {info[key]}"
            for key in ("format", "sheet", "encoding", "delimiter", "header_row")
            if info.get(key)
        )
        out.write(f"Import {imp.public_id} into {imp.place.name} ({imp.place.code}): {details}")
        out.write(
            f"  rows {imp.rows_total:,}  valid {imp.rows_valid:,}  with errors "
            f"{imp.rows_invalid:,}  repeated in the file {imp.rows_duplicate_in_file:,}"
        )
        if imp.status == ImportStatus.DONE:
            out.write(
                f"  new people {imp.people_created:,}  already registered {imp.people_matched:,}"
            )
        for note in (imp.error_summary or {}).get("notes", []):
            out.write(f"  note: {note}")
        for error in (imp.errors or [])[:20]:
            out.write(f"  row {error['row']}: {error['column']}: {error['message']}")
        total = int((imp.error_summary or {}).get("errors_total", 0))
        if total > 20:
            out.write(f"  … and {total - 20:,} more errors")
        if options["errors_out"] and (imp.rows_invalid or imp.rows_duplicate_in_file):
            out.write(f"  failing rows written to {options['errors_out']}")
        verdict = {
            ImportStatus.VALIDATED: "dry run: nothing written",
            ImportStatus.DONE: "done",
            ImportStatus.FAILED: "failed",
        }.get(ImportStatus(imp.status), imp.status)
        out.write(f"{verdict} in {time.monotonic() - started:.1f} s")
        sys.stdout.flush()
