"""Writing a bulk export: report rows streamed from the database into one NDJSON file
per resource type (FHIR Bulk Data), with progress on the export's row.

Memory stays flat: rows come through `queries.iter_reports` (a server-side cursor
read in chunks) and each line is written as soon as it is built. Rows arrive by
person, so a Patient is written once without remembering anyone; the resources that
several rows share — a pool's Group, Specimen and Observation, a lab — are written
the first time and remembered by id (one entry per pooled tube and per lab).
"""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils import timezone, translation

from swabline.accounts.models import User
from swabline.interop import fhir
from swabline.interop.enums import EXPORT_TYPES, ExportStatus
from swabline.interop.models import BulkExport
from swabline.interop.queries import CHUNK_SIZE, ReportQuery, count_reports, iter_reports

SUFFIX = ".ndjson"


class Cancelled(Exception):
    """The requester cancelled the export while it ran."""


def export_dir(job: BulkExport) -> Path:
    return Path(settings.FHIR_EXPORT_DIR) / str(job.public_id)


def file_path(job: BulkExport, resource_type: str) -> Path:
    return export_dir(job) / f"{resource_type}{SUFFIX}"


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def line(resource: fhir.Resource) -> str:
    return _encode(resource) + "\n"


class Writer:
    """One open file per requested type; counts what it wrote."""

    def __init__(self, folder: Path, types: list[str]) -> None:
        self.folder = folder
        self.files: dict[str, IO[str]] = {
            t: (folder / f"{t}{SUFFIX}.part").open("w", encoding="utf-8") for t in types
        }
        self.counts = dict.fromkeys(types, 0)
        self.shared: set[str] = set()
        self.last_patient = ""

    def write(self, resource: fhir.Resource) -> None:
        out = self.files.get(resource["resourceType"])
        if out is not None:
            out.write(line(resource))
            self.counts[resource["resourceType"]] += 1

    def first_time(self, kind: str, key: object) -> bool:
        token = f"{kind}:{key}"
        if token in self.shared:
            return False
        self.shared.add(token)
        return True

    def wants(self, resource_type: str) -> bool:
        return resource_type in self.files

    def add(self, r: fhir.ReportData) -> None:
        """The resources of one report row, each shared one once."""
        if self.wants("Patient") and r.patient.public_id != self.last_patient:
            self.write(fhir.patient(r.patient))
        self.last_patient = r.patient.public_id
        lab = r.lab
        if lab is not None and self.wants("Organization") and self.first_time("lab", lab.public_id):
            self.write(fhir.organization(lab))
        if r.pooled and self.first_time("tube", r.tube_key):
            if self.wants("Group"):
                self.write(fhir.pool_group(r))
            if self.wants("Specimen"):
                self.write(fhir.pool_specimen(r))
            if self.wants("Observation") and not r.rejected:
                self.write(fhir.pool_observation(r))
        if self.wants("Specimen"):
            self.write(fhir.person_specimen(r))
        if self.wants("Observation") and not r.rejected:
            self.write(fhir.person_observation(r))
        if self.wants("DiagnosticReport"):
            self.write(fhir.diagnostic_report(r))

    def finish(self) -> list[dict[str, Any]]:
        """Close the files, keep those with lines (renamed into place), drop the empty."""
        output = []
        for resource_type, out in self.files.items():
            out.close()
            part = self.folder / f"{resource_type}{SUFFIX}.part"
            if self.counts[resource_type]:
                part.replace(self.folder / f"{resource_type}{SUFFIX}")
                output.append({"type": resource_type, "count": self.counts[resource_type]})
            else:
                part.unlink()
        return output

    def abort(self) -> None:
        for out in self.files.values():
            with contextlib.suppress(OSError):  # flushing into a full disk fails again
                out.close()


def write_export(
    job: BulkExport,
    *,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Write `job`'s files from scratch (a retry starts over) and answer its `output`.

    The rows are those its requester may read now (`queries.access_condition`),
    issued within [since, until]. Progress (`rows_total`, `rows_done`,
    `heartbeat_at`) is saved once per chunk; a cancelled job stops at the next chunk.
    """
    user = User.objects.get(pk=job.requested_by_id)
    query = ReportQuery(user=user, issued_ge=job.since, issued_le=job.until)
    total = count_reports(query)
    BulkExport.objects.filter(pk=job.pk).update(
        rows_total=total, rows_done=0, heartbeat_at=timezone.now()
    )
    folder = export_dir(job)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    types = [t for t in EXPORT_TYPES if t in (job.types or EXPORT_TYPES)]
    writer = Writer(folder, types)
    done = 0
    try:
        with translation.override(job.language):
            for report in iter_reports(query, chunk_size=chunk_size):
                writer.add(report)
                done += 1
                if done % chunk_size == 0:
                    _progress(job, done)
                    if on_progress:
                        on_progress(done)
        _progress(job, done)
        return writer.finish()  # closing flushes: a full disk may show only here
    except BaseException:
        # No partial file is left, whatever stopped us (a full disk, a kill of the
        # database, a cancel): a retry starts over and the space is free meanwhile.
        writer.abort()
        shutil.rmtree(folder, ignore_errors=True)
        raise


# BulkExport.failure when the disk (or the file size limit) ran out: the status
# answer then says so in the requester's language (api.export_status).
DISK_FULL = "disk_full"


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the process's file size limit) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _progress(job: BulkExport, done: int) -> None:
    updated = BulkExport.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).update(
        rows_done=done, heartbeat_at=timezone.now()
    )
    if not updated:
        raise Cancelled


def delete_files(job: BulkExport) -> None:
    shutil.rmtree(export_dir(job), ignore_errors=True)
