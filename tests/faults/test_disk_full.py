"""Disk full while writing a bulk FHIR export (issue #8, faults).

The export's folder sits on a disk that fills up for real: a 64 KiB tmpfs mounted
for the test (ENOSPC; where mounting is not allowed that case is skipped), or this
process's file size limit lowered with RLIMIT_FSIZE (EFBIG: Python ignores
SIGXFSZ, so write() fails). Either way the real task runs: no partial file is left
after any attempt, the last attempt marks the export failed as `disk_full`, its
status answers a translated error, and an export started again once there is room
holds every report once.
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from swabline.interop import exporting, services, tasks
from swabline.interop.enums import ExportStatus
from swabline.interop.models import BulkExport
from tests.interop import cases

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

LIMIT = 64 * 1024


@contextlib.contextmanager
def tmpfs(folder: Path) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={LIMIT}", "tmpfs", str(folder)],
        capture_output=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs is not allowed here (needs root)")
    try:
        (folder / "filler").write_bytes(b"x" * (LIMIT - 8 * 1024))  # leave 8 KiB free
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@contextlib.contextmanager
def file_size_limit(folder: Path) -> Iterator[Path]:
    folder.mkdir()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 1024, hard))
    try:
        yield folder
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def export_once(world: Any) -> BulkExport:
    return services.start_export(
        by=world.users["admin"], since=None, until=None, request_url="x",
        base_url="http://testserver/api/v1/fhir",
    )  # fmt: skip


@pytest.mark.parametrize("full", [tmpfs, file_size_limit], ids=["ENOSPC", "EFBIG"])
def test_disk_full_leaves_no_partial_file_and_a_clean_error(
    world, client, settings, tmp_path, full
):
    cases.build(world)  # 15 released reports of 14 people
    settings.TASK_MAX_ATTEMPTS = 2
    job = export_once(world)
    with full(tmp_path / "exports") as folder:
        settings.FHIR_EXPORT_DIR = str(folder)
        for attempt in (1, 2):
            with pytest.raises(OSError) as raised:
                tasks.run_fhir_export.call(str(job.public_id), attempt=attempt)
            assert exporting.disk_full(raised.value)
            assert not exporting.export_dir(job).exists()  # no partial file, room freed
        left = sorted(p.name for p in folder.iterdir())
    assert left in ([], ["filler"])
    job.refresh_from_db()
    assert (job.status, job.failure) == (ExportStatus.FAILED, exporting.DISK_FULL)

    token = cases.token(world.users["admin"])
    with translation.override("en"):
        answer = client.get(f"/api/v1/fhir/$export-status/{job.public_id}", **token,
                            HTTP_ACCEPT_LANGUAGE="en")  # fmt: skip
    assert answer.status_code == 500
    [issue] = json.loads(answer.content)["issue"]
    assert issue["diagnostics"] == (
        "The server ran out of disk space while writing the export. Start it again later."
    )
    # Room again: started anew, the export holds each report and person once.
    settings.FHIR_EXPORT_DIR = str(tmp_path / "roomy")
    again = export_once(world)
    tasks.run_fhir_export.call(str(again.public_id))
    again.refresh_from_db()
    assert again.status == ExportStatus.DONE
    folder = exporting.export_dir(again)
    assert not list(folder.glob("*.part"))
    written = {p.name: p.read_text().splitlines() for p in folder.iterdir()}
    reports = [json.loads(line)["id"] for line in written["DiagnosticReport.ndjson"]]
    patients = [json.loads(line)["id"] for line in written["Patient.ndjson"]]
    assert len(reports) == len(set(reports)) == 15
    assert len(patients) == len(set(patients)) == 14
