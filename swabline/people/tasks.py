"""Background work for people: checking and committing bulk imports."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from swabline.core.tasks import retrying_task
from swabline.people import importing
from swabline.people.models import ImportStatus, PeopleImport

log = logging.getLogger(__name__)


@retrying_task()
def run_people_import(import_id: str, attempt: int = 1) -> dict[str, Any]:
    """Commit one queued import; a retry after a failed or killed attempt finishes it.

    Claims the import (queued, or importing after a failed attempt) so a finished or
    abandoned one is left alone. The commit is one transaction: a failed attempt
    leaves nothing, and the task is retried with backoff; after the last attempt the
    import is marked failed.
    """
    claimed = (
        PeopleImport.objects.filter(public_id=import_id)
        .filter(Q(status=ImportStatus.QUEUED) | Q(status=ImportStatus.IMPORTING))
        .update(status=ImportStatus.IMPORTING, heartbeat_at=timezone.now())
    )
    if not claimed:
        return {"import": import_id, "skipped": True}
    imp = PeopleImport.objects.select_related("place").get(public_id=import_id)
    try:
        imp = importing.commit_import(imp)
    except Exception as exc:
        if attempt >= settings.TASK_MAX_ATTEMPTS:
            importing.mark_failed(imp, f"{type(exc).__name__}: {exc}"[:500])
        log.warning(
            "people import attempt failed",
            extra={"import": import_id, "attempt": attempt, "error": type(exc).__name__},
        )
        raise
    return {
        "import": import_id,
        "status": imp.status,
        "created": imp.people_created,
        "matched": imp.people_matched,
    }


@retrying_task()
def validate_people_import(import_id: str) -> dict[str, Any]:
    """The dry run of a big upload, off the request (the page polls its progress)."""
    imp = PeopleImport.objects.select_related("place").get(public_id=import_id)
    preview = importing.validate_import(imp)
    return {
        "import": import_id,
        "status": preview.status,
        "valid": preview.rows_valid,
        "invalid": preview.rows_invalid,
    }
