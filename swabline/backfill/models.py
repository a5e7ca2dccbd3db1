"""Paper backfill: tubes collected on paper and entered late, and the paper backlog.

A `LateEntry` is the trace from a person's sample back to the paper sheet it was
written on: the sheet reference the volunteer typed, the collection time and site
from the paper, who entered it, when, and how long the keyboard work took. A
`PaperBacklog` is a site's declaration of how many paper tubes still wait to be
entered (the newest declaration counts; entries made after it are taken off).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.backfill.enums import EntrySource
from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope

MAX_SHEET_REF = 100


class LateEntry(CarriesProvince):
    """One paper tube entered late (screen, spreadsheet or API)."""

    province_source = "site"

    tube = models.OneToOneField(
        "sampling.Tube", on_delete=models.PROTECT, related_name="late_entry"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    site = models.ForeignKey(
        "campaigns.Site", on_delete=models.PROTECT, related_name="late_entries"
    )
    sheet_ref = models.CharField(_("paper sheet"), max_length=MAX_SHEET_REF)
    collected_at = models.DateTimeField(_("collected at (paper)"))
    people = models.PositiveSmallIntegerField(_("people"))
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    entered_at = models.DateTimeField(_("entered at"), default=timezone.now)
    # Keyboard work on the screen, from the first key to close (None for uploads).
    duration_seconds = models.FloatField(_("entry time (s)"), null=True, blank=True)
    # When the lab had received the tube without names (None: entered before it left).
    names_missing_since = models.DateTimeField(_("names missing since"), null=True, blank=True)
    source = models.CharField(
        _("source"), max_length=10, choices=EntrySource.choices, default=EntrySource.SCREEN
    )
    # Idempotency: the screen and API send a client-generated id per tube.
    client_id = models.UUIDField(unique=True, null=True, blank=True)
    upload = models.ForeignKey(
        "backfill.BackfillUpload",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
    )

    class Meta:
        verbose_name = _("late entry")
        verbose_name_plural = _("late entries")
        ordering = ["-entered_at", "-id"]
        indexes = [
            models.Index(fields=["campaign", "site", "entered_at"], name="late_entry_site_time"),
        ]

    def __str__(self) -> str:
        return f"{self.tube_id} ← {self.sheet_ref}"

    def scope(self) -> Scope:
        return Scope(place_path=self.site.ward.path, site_id=self.site_id)


class PaperBacklog(CarriesProvince):
    """A site says: this many tubes were collected on paper and are not entered yet."""

    province_source = "site"

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    site = models.ForeignKey(
        "campaigns.Site", on_delete=models.PROTECT, related_name="paper_backlogs"
    )
    tubes = models.PositiveIntegerField(_("paper tubes not entered"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    declared_at = models.DateTimeField(_("declared at"), default=timezone.now)

    class Meta:
        verbose_name = _("paper backlog")
        verbose_name_plural = _("paper backlogs")
        ordering = ["-declared_at", "-id"]
        indexes = [
            models.Index(fields=["site", "declared_at"], name="paper_backlog_site_time"),
        ]

    def __str__(self) -> str:
        return f"{self.site_id}: {self.tubes}"

    def scope(self) -> Scope:
        return Scope(place_path=self.site.ward.path, site_id=self.site_id)


class BackfillUpload(CarriesProvince):
    """A spreadsheet of paper tubes, committed all at once (or not at all)."""

    province_source = "site"

    site = models.ForeignKey("campaigns.Site", on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(_("file"), max_length=200)
    # The same file again answers the first upload instead of entering it twice.
    sha256 = models.CharField(max_length=64)
    tubes = models.PositiveIntegerField(_("tubes"), default=0)
    people = models.PositiveIntegerField(_("people"), default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("backfill upload")
        verbose_name_plural = _("backfill uploads")
        ordering = ["-uploaded_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "sha256"], name="backfill_upload_once"),
        ]

    def __str__(self) -> str:
        return self.file_name

    def scope(self) -> Scope:
        return Scope(place_path=self.site.ward.path, site_id=self.site_id)
