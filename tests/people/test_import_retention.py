"""Uploaded people lists hold personal data: the retention command deletes them, their
side files (cleaned rows, failing rows) and the row errors kept on the import after
IMPORT_UPLOAD_KEEP_HOURS without activity; the counts stay."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone, translation
from openpyxl import load_workbook

from swabline.audit.models import AuditEvent
from swabline.people import importing
from swabline.people.models import ImportStatus, PeopleImport
from swabline.people.retention import purge_import_uploads
from tests.people.test_import import HEADER, ROWS, csv_bytes, run, upload

pytestmark = pytest.mark.django_db

BAD = ["Bad Row 1", "1961", "Nam", "", "", "", "", ""]
STAMPS = ("created_at", "validated_at", "queued_at", "started_at", "heartbeat_at", "finished_at")


def age(imp: PeopleImport, hours: int, **also: object) -> None:
    """Move every time of the import `hours` back (as if nothing happened since)."""
    then = timezone.now() - dt.timedelta(hours=hours)
    stamps = {s: then for s in STAMPS if getattr(imp, s) is not None}
    PeopleImport.objects.filter(pk=imp.pk).update(**stamps, **also)


def folder(imp: PeopleImport) -> Path:
    return importing.upload_path(imp).parent


def test_old_uploads_go_with_their_side_files_and_row_errors_and_counts_stay(world, tmp_path):
    done = run(upload(world, tmp_path, csv_bytes([HEADER, *ROWS, BAD]), "done.csv"))
    checked = upload(world, tmp_path, csv_bytes([HEADER, ROWS[0], BAD]), "checked.csv")
    importing.validate_import(checked)
    recent = upload(world, tmp_path, csv_bytes([HEADER, ROWS[1], BAD]), "recent.csv")
    importing.validate_import(recent)
    checked.refresh_from_db()
    assert {p.name for p in folder(checked).iterdir()} == {
        "upload.csv",
        "valid-rows.copy",
        "failing-rows.jsonl",
    }
    assert checked.errors and done.errors
    age(done, 73)
    age(checked, 73)
    age(recent, 71)
    counts = {
        i.pk: (i.rows_total, i.rows_valid, i.rows_invalid, i.people_created)
        for i in PeopleImport.objects.all()
    }

    assert purge_import_uploads() == 2

    for imp in (done, checked):
        imp.refresh_from_db()
        assert not folder(imp).exists()
        assert imp.errors == [] and imp.files_deleted_at is not None
    recent.refresh_from_db()
    assert folder(recent).exists() and recent.errors and recent.files_deleted_at is None
    assert {
        i.pk: (i.rows_total, i.rows_valid, i.rows_invalid, i.people_created)
        for i in PeopleImport.objects.all()
    } == counts
    assert done.status == ImportStatus.DONE and done.people_created == 3
    [event] = AuditEvent.objects.filter(action="people_import.files_deleted")
    assert event.data == {"hours": 72, "imports": 2}
    # Idempotent: a second run finds nothing and writes no event.
    assert purge_import_uploads() == 0
    assert AuditEvent.objects.filter(action="people_import.files_deleted").count() == 1

    # What is left of the checked import can no longer be committed or downloaded.
    with (
        translation.override("en"),
        pytest.raises(importing.ImportRejected, match="deleted after the keeping time"),
    ):
        importing.queue_import(imp=checked, by=world.users["dataentry_a"])
    sheet = load_workbook(io.BytesIO(importing.failing_rows_xlsx(checked))).active
    assert sheet.max_row <= 1  # nothing but (at most) the header row
    page = world.client_for("dataentry_a").get(f"/people/import/{checked.public_id}/")
    assert page.status_code == 200 and "Bad Row 1" not in page.content.decode()


def test_an_import_at_work_is_kept_and_one_stuck_in_the_queue_fails(world, tmp_path):
    working = upload(world, tmp_path, csv_bytes([HEADER, *ROWS]), "working.csv")
    importing.validate_import(working)
    age(working, 100, status=ImportStatus.IMPORTING)
    PeopleImport.objects.filter(pk=working.pk).update(heartbeat_at=timezone.now())
    stuck = upload(world, tmp_path, csv_bytes([HEADER, *ROWS]), "stuck.csv")
    importing.validate_import(stuck)
    importing.queue_import(imp=stuck, by=world.users["dataentry_a"])
    stuck.refresh_from_db()
    age(stuck, 100)

    with translation.override("en"):  # the reason is stored in the language of the run
        assert purge_import_uploads() == 1

    working.refresh_from_db()
    stuck.refresh_from_db()
    assert folder(working).exists() and working.status == ImportStatus.IMPORTING
    assert not folder(stuck).exists()
    assert stuck.status == ImportStatus.FAILED and stuck.finished_at is not None
    assert "deleted" in stuck.failure


def test_the_retention_command_deletes_old_uploads(world, tmp_path, settings):
    settings.IMPORT_UPLOAD_KEEP_HOURS = 1
    imp = upload(world, tmp_path, csv_bytes([HEADER, *ROWS]))
    importing.validate_import(imp)
    age(imp, 2)
    out = io.StringIO()
    with translation.override("en"):
        call_command("apply_retention", stdout=out)
    assert not folder(imp).exists()
    assert out.getvalue().splitlines()[-1] == "Uploaded lists deleted: 1 (keeping time: 1 h)."
    with pytest.raises(ValueError, match="at least one hour"):
        purge_import_uploads(hours=0)
