from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope
from swabline.labs.enums import ResultSource, ResultState, ResultValue, UploadStatus


class Lab(CarriesProvince):
    """A testing laboratory; lab staff are scoped to one."""

    province_source = "place"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    place = models.ForeignKey(
        "places.Place", on_delete=models.PROTECT, related_name="labs", verbose_name=_("place")
    )
    address = models.CharField(_("address"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("lab")
        verbose_name_plural = _("labs")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def scope(self) -> Scope:
        return Scope(place_path=self.place.path, lab_id=self.pk)


class LabCampaignSettings(models.Model):
    """Per-campaign lab options: when a received tube waiting for a result is late."""

    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="lab_settings"
    )
    worklist_warning_hours = models.PositiveSmallIntegerField(
        _("warn after (hours waiting)"), default=6
    )
    worklist_alarm_hours = models.PositiveSmallIntegerField(
        _("alarm after (hours waiting)"), default=12
    )

    class Meta:
        verbose_name = _("lab settings of a campaign")
        verbose_name_plural = _("lab settings of campaigns")

    def __str__(self) -> str:
        return str(self.campaign)


class TubeResult(CarriesProvince):
    """The lab's result for one tube. At most one is *current* per tube (entered or
    released); a correction supersedes the released one and keeps it in history.
    Nothing reaches a person before `state` is released (two-step release)."""

    province_source = "tube"
    # Found through its tube, never filtered by province: no index of its own (under
    # Citus it is the distribution column, which needs none).
    province_code = models.CharField(max_length=4, editable=False)

    tube = models.ForeignKey("sampling.Tube", on_delete=models.PROTECT, related_name="results")
    # Led by the review-queue and recent-entries indexes below.
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="results", db_index=False)
    value = models.CharField(_("result"), max_length=10, choices=ResultValue.choices)
    # Ct per target gene, e.g. {"E": 24.1, "N": 26.3, "RdRp": null}.
    ct_values = models.JSONField(_("Ct values"), default=dict, blank=True)
    method = models.CharField(_("method"), max_length=100, blank=True)
    well = models.CharField(_("well"), max_length=10, blank=True)
    run_id = models.CharField(_("run"), max_length=100, blank=True)
    source = models.CharField(
        _("source"), max_length=10, choices=ResultSource.choices, default=ResultSource.MANUAL
    )
    # Bulk uploads insert 100,000 results at once: every index and checked foreign key
    # costs per row, so the ones no query needs are left out (see docs/performance.md).
    upload = models.ForeignKey(
        "labs.ResultUpload",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="results",
        db_index=False,
        db_constraint=False,
    )
    # Idempotency for API batches (client-generated id per result); unique where set
    # (a partial index: uploaded rows have none and cost it nothing).
    client_id = models.UUIDField(null=True, blank=True)
    state = models.CharField(
        _("state"), max_length=12, choices=ResultState.choices, default=ResultState.ENTERED
    )
    current = models.BooleanField(default=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    entered_at = models.DateTimeField(_("entered at"), default=timezone.now)
    # A release sets `released_by` and `release` on up to 100,000 rows at once, and
    # PostgreSQL checks a changed foreign key row by row at commit (0.55 s of the
    # 100,000-tube release): like `entered_by`, they carry no database constraint
    # (the release row is written by the same transaction; users and releases are
    # PROTECTed and never deleted).
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    release = models.ForeignKey(
        "results.Release",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="results",
        db_index=False,  # partial index below: only released results have one
        db_constraint=False,
    )
    # A correction: the result it replaces and why.
    # One correction per result at most (the partial unique constraint below: a full
    # one-to-one index held a NULL entry for every result, written again by each
    # non-HOT update, e.g. 100,000 of them per release).
    amends = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="amended_by",
        db_index=False,
    )
    amendment_reason = models.CharField(_("reason for the correction"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("tube result")
        verbose_name_plural = _("tube results")
        ordering = ["-entered_at", "-id"]
        indexes = [
            # Only the queue reads it (entered, current): a released row leaves it,
            # so a release writes no entry here (the UPDATE cannot be HOT anyway).
            models.Index(
                fields=["lab", "entered_at"],
                condition=models.Q(current=True, state=ResultState.ENTERED),
                name="result_review_queue",
            ),
            models.Index(
                fields=["lab", "entered_by", "entered_at"], name="result_recent_by_technician"
            ),
            models.Index(
                fields=["release"],
                condition=models.Q(release__isnull=False),
                name="result_by_release",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tube"],
                condition=models.Q(current=True),
                name="result_one_current_per_tube",
            ),
            models.UniqueConstraint(
                fields=["client_id"],
                condition=models.Q(client_id__isnull=False),
                name="result_client_id_once",
            ),
            models.UniqueConstraint(
                fields=["amends"],
                condition=models.Q(amends__isnull=False),
                name="result_amended_once",
            ),
            models.CheckConstraint(
                condition=models.Q(value__in=ResultValue.values), name="result_value_known"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=ResultState.values), name="result_state_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(state=ResultState.RELEASED)
                | models.Q(released_at__isnull=False, released_by__isnull=False),
                name="result_released_has_who_and_when",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tube_id}: {self.value}"

    def scope(self) -> Scope:
        return Scope(place_path=self.lab.place.path, lab_id=self.lab_id)


class ColumnMapping(models.Model):
    """How one lab's PCR software names its export columns and result words, saved so
    the next upload maps itself."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="column_mappings")
    name = models.CharField(_("name"), max_length=100)
    # {"tube_code": "Sample Name", "result": "Result", "well": "Well", "run_id": "Run",
    #  "ct": {"E": "Ct E", "N": "Ct N"}}
    columns = models.JSONField(_("columns"), default=dict)
    # {"negative": ["Negative", "NEG", "Not detected"], "positive": [...], "invalid": [...]}
    values = models.JSONField(_("result words"), default=dict)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        verbose_name = _("column mapping")
        verbose_name_plural = _("column mappings")
        ordering = ["lab", "name"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "name"], name="column_mapping_name_once_per_lab")
        ]

    def __str__(self) -> str:
        return self.name

    def scope(self) -> Scope:
        return Scope(place_path=self.lab.place.path, lab_id=self.lab_id)


class ResultUpload(models.Model):
    """One uploaded results file: its checksum, the per-row report, and what it changed."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="uploads")
    mapping = models.ForeignKey(
        ColumnMapping, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    file_name = models.CharField(_("file"), max_length=255)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(
        _("status"), max_length=10, choices=UploadStatus.choices, default=UploadStatus.PREVIEWED
    )
    rows = models.PositiveIntegerField(_("rows"), default=0)
    created = models.PositiveIntegerField(_("new results"), default=0)
    unchanged = models.PositiveIntegerField(_("already recorded"), default=0)
    contradictions = models.PositiveIntegerField(_("contradicting results"), default=0)
    errors = models.PositiveIntegerField(_("rows with errors"), default=0)
    # Row-level report: [{"row": 7, "field": "result", "message": "...", "kind": "error"}]
    report = models.JSONField(default=list, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("result upload")
        verbose_name_plural = _("result uploads")
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["lab", "sha256"], name="result_upload_lab_checksum")]

    def __str__(self) -> str:
        return self.file_name

    def scope(self) -> Scope:
        return Scope(place_path=self.lab.place.path, lab_id=self.lab_id)
