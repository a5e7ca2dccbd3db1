"""Bulk export statuses and the resource types we export."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting")
    RUNNING = "running", _("Exporting")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired: files deleted")


# The resource types a result export holds, in the order their files are listed.
EXPORT_TYPES = (
    "Patient",
    "Organization",
    "Group",
    "Specimen",
    "Observation",
    "DiagnosticReport",
)
