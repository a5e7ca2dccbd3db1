"""Background work for interop: writing a bulk FHIR export."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from swabline.core.tasks import retrying_task
from swabline.interop import exporting, services

log = logging.getLogger(__name__)


@retrying_task()
def run_fhir_export(export_id: str, attempt: int = 1) -> dict[str, Any]:
    """Write one queued export's NDJSON files; a retry starts the files over.

    Claims the export (queued, or running after a failed attempt), so a finished,
    failed or cancelled one is left alone. After the last attempt the export is
    marked failed and its partial files removed.
    """
    job = services.claim_export(export_id)
    if job is None:
        return {"export": export_id, "skipped": True}
    try:
        output = exporting.write_export(job)
    except exporting.Cancelled:
        exporting.delete_files(job)
        return {"export": export_id, "cancelled": True}
    except Exception as exc:
        if attempt >= settings.TASK_MAX_ATTEMPTS:
            reason = exporting.DISK_FULL if exporting.disk_full(exc) else type(exc).__name__
            services.fail_export(job, reason)
        log.warning(
            "fhir export attempt failed",
            extra={"export": export_id, "attempt": attempt, "error": type(exc).__name__},
        )
        raise
    services.finish_export(job, output)
    expired = services.prune_exports()
    return {"export": export_id, "output": output, "expired": expired}
