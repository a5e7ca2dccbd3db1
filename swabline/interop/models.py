"""Bulk FHIR exports: one row per kick-off, its progress and its files."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.interop.enums import ExportStatus


class BulkExport(models.Model):
    """One `$export` request (FHIR Bulk Data): queued → running → done | failed, or
    cancelled by its requester. The worker writes one NDJSON file per resource type
    under `FHIR_EXPORT_DIR/<public_id>/`; `output` lists them with their counts.
    Only the requester may poll it or download its files (a partner's export holds
    only its consented people; an official's only their places)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    since = models.DateTimeField(_("results issued from"), null=True, blank=True)
    until = models.DateTimeField(_("results issued until"), null=True, blank=True)
    types = models.JSONField(default=list)
    # The kick-off URL (the manifest's `request`) and the FHIR base its links use.
    request_url = models.CharField(max_length=1000)
    base_url = models.CharField(max_length=500)
    # The language of the texts in the files (conclusions, notes): the requester's.
    language = models.CharField(max_length=10, default="vi")
    rows_total = models.PositiveBigIntegerField(default=0)
    rows_done = models.PositiveBigIntegerField(default=0)
    # [{"type": "Patient", "count": 123}], in EXPORT_TYPES order.
    output = models.JSONField(default=list, blank=True)
    failure = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("FHIR export")
        verbose_name_plural = _("FHIR exports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requested_by", "-created_at"], name="fhir_export_by_user")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ExportStatus.values), name="fhir_export_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"
