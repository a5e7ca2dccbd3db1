"""Tubes, the people in them, tube labels, and the station's sync log.

Invariants the database holds (so no code path, raw SQL or race can break them):

- one active normal sample per person per campaign (partial unique index;
  recall and recollection samples are exempt);
- a person is in a tube at most once, and each position of a tube is taken once
  (partial unique indexes over active samples);
- a tube never holds more than its limit: positions run from 1 to the tube's
  `pool_limit` (trigger) and are unique, and the limit itself is 1..50 (check),
  at most the campaign's limit when the tube was opened (trigger), and 1 for an
  individual tube (check);
- a closed tube's members never change: samples may be added, changed or removed
  only while their tube is open, and a tube's status moves only along
  `ALLOWED_TRANSITIONS` (triggers; see migration 0002 for the SQL and its reasons);
- a label is used once (`Tube.code` and `TubeLabel.code` are unique);
- a *names-missing* tube (received at a lab with nobody in it, `names_missing_since`
  set) takes its members once, through the backfill service only, and its status
  never becomes released while it has none (triggers; migration 0006).
"""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope
from swabline.sampling.codes import MAX_CODE_LENGTH
from swabline.sampling.enums import (
    EventType,
    Fate,
    LabelBatchKind,
    SampleKind,
    TubeKind,
    TubeStatus,
)

MAX_POOL = 50


def validate_pattern(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(
            _("This is not a valid regular expression: %(error)s"), params={"error": str(exc)}
        ) from exc


class SamplingSettings(models.Model):
    """Per-campaign sampling options that the Campaign model does not carry."""

    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="sampling_settings"
    )
    label_pattern = models.CharField(
        _("supplier label pattern"),
        max_length=200,
        blank=True,
        validators=[validate_pattern],
        help_text=_(
            "A regular expression that pre-printed supplier labels match in full, "
            "e.g. VN[0-9]{8}. Empty: only labels generated here are accepted."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("sampling settings")
        verbose_name_plural = _("sampling settings")

    def __str__(self) -> str:
        return str(self.campaign)

    def accepts_supplier_code(self, code: str) -> bool:
        return bool(self.label_pattern) and re.fullmatch(self.label_pattern, code) is not None


class LabelBatch(models.Model):
    """Tube labels made (or received from a supplier) together, issued to a site."""

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="label_batches"
    )
    site = models.ForeignKey(
        "campaigns.Site",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="label_batches",
        verbose_name=_("issued to"),
    )
    kind = models.CharField(
        _("kind"), max_length=10, choices=LabelBatchKind.choices, default=LabelBatchKind.GENERATED
    )
    count = models.PositiveIntegerField(_("labels"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("label batch")
        verbose_name_plural = _("label batches")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign} #{self.pk} ({self.count})"


class TubeLabel(CarriesProvince):
    """One printed (or supplier) label; `used_at` is set when a tube is opened with it."""

    province_source = "campaign"
    # Found by its code, never filtered by province: no index of its own (under
    # Citus it is the distribution column, which needs none).
    province_code = models.CharField(max_length=4, editable=False)

    code = models.CharField(_("code"), max_length=MAX_CODE_LENGTH, unique=True)
    batch = models.ForeignKey(LabelBatch, on_delete=models.CASCADE, related_name="labels")
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    site = models.ForeignKey(
        "campaigns.Site", on_delete=models.PROTECT, null=True, related_name="+", db_index=False
    )
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("tube label")
        verbose_name_plural = _("tube labels")
        ordering = ["batch", "id"]

    def __str__(self) -> str:
        return self.code


class Tube(CarriesProvince):
    """A sample tube (ống mẫu): a pool of up to `pool_limit` people, or one person."""

    province_source = "site"

    code = models.CharField(_("label"), max_length=MAX_CODE_LENGTH, unique=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="tubes", db_index=False
    )
    site = models.ForeignKey("campaigns.Site", on_delete=models.PROTECT, related_name="tubes")
    kind = models.CharField(_("kind"), max_length=10, choices=TubeKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=TubeStatus.choices, default=TubeStatus.OPEN
    )
    pool_limit = models.PositiveSmallIntegerField(_("limit"))
    member_count = models.PositiveSmallIntegerField(_("people"), default=0)
    is_recall = models.BooleanField(_("recall tube"), default=False)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    client_opened_at = models.DateTimeField(_("opened at (station clock)"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    voided_reason = models.CharField(_("reason for cancelling"), max_length=200, blank=True)
    # Set when a lab received this tube by a label issued to a site but with nobody in
    # it (written on paper); cleared when its names are backfilled. Until then the
    # tube can be tested but its result cannot be released (migration 0006 triggers).
    names_missing_since = models.DateTimeField(
        _("names missing since"), null=True, blank=True, db_index=True
    )

    class Meta:
        verbose_name = _("tube")
        verbose_name_plural = _("tubes")
        ordering = ["-opened_at", "-id"]
        indexes = [
            # Not `status`: a release moves 100,000 tubes `resulted → released`, and
            # an index on status makes every one of those updates write a new entry
            # in each of the tube's indexes instead of a HOT update in place
            # (migration 0012 also leaves half of each page free for it).
            models.Index(fields=["campaign", "site"], name="tube_campaign_site"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pool_limit__gte=1, pool_limit__lte=MAX_POOL),
                name="tube_pool_limit_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(kind=TubeKind.POOL) | models.Q(pool_limit=1),
                name="tube_individual_holds_one",
            ),
            models.CheckConstraint(
                condition=models.Q(member_count__lte=models.F("pool_limit")),
                name="tube_count_within_limit",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TubeStatus.values), name="tube_status_known"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=TubeKind.values), name="tube_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def scope(self) -> Scope:
        return Scope(place_path=self.site.ward.path, site_id=self.site_id)


class Sample(CarriesProvince):
    """One person in one tube. Removing a person (undo, or a cancelled tube) keeps
    the row, inactive, so the trail of what happened stays."""

    province_source = "tube"
    # Found through its tube, person or event, never filtered by province: no index
    # of its own (one write fewer per sample; decision 0017).
    province_code = models.CharField(max_length=4, editable=False)

    tube = models.ForeignKey(Tube, on_delete=models.PROTECT, related_name="samples")
    # No database constraint on PostgreSQL: checked once per statement instead
    # (migration 0014); SQLite keeps its own.
    person = models.ForeignKey(
        "people.Person", on_delete=models.PROTECT, related_name="samples", db_constraint=False
    )
    # Always its tube's campaign (a trigger checks it), kept here for the unique rule;
    # no constraint of its own, since the tube's holds it.
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(
        _("kind"), max_length=10, choices=SampleKind.choices, default=SampleKind.NORMAL
    )
    active = models.BooleanField(_("active"), default=True)
    collected_at = models.DateTimeField(_("collected at (station clock)"))
    # No constraint in the database: accounts are deactivated, never deleted (the ORM's
    # PROTECT still refuses), and the check ran once per sample at commit, locking the
    # sampler's account row for every scan (decision 0017).
    collected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    client_event_id = models.UUIDField(unique=True)
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sample")
        verbose_name_plural = _("samples")
        ordering = ["tube", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "campaign"],
                condition=models.Q(active=True, kind=SampleKind.NORMAL),
                name="sample_one_active_per_person",
            ),
            models.UniqueConstraint(
                fields=["tube", "position"],
                condition=models.Q(active=True),
                name="sample_position_taken_once",
            ),
            models.UniqueConstraint(
                fields=["tube", "person"],
                condition=models.Q(active=True),
                name="sample_person_once_per_tube",
            ),
            models.CheckConstraint(
                condition=models.Q(position__gte=1, position__lte=MAX_POOL),
                name="sample_position_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(active=True, removed_at__isnull=True)
                | models.Q(active=False, removed_at__isnull=False),
                name="sample_removed_has_time",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=SampleKind.values), name="sample_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tube_id}#{self.position}"


class StationEvent(CarriesProvince):
    """The idempotency log of station capture: one row per client event id, with the
    fate it got the first time. Applying an event again changes nothing and answers
    that first fate. Conflicts stay here, unresolved, for the site view.

    A log, like the audit trail: its references carry no database constraints (one
    row per scan; checking four foreign keys per row was a fifth of a synced
    batch's write time). Django still protects the rows they point to.
    """

    province_source = "site"
    # Found by its event id, or a site's open conflicts: no index of its own.
    province_code = models.CharField(max_length=4, editable=False)

    client_event_id = models.UUIDField(primary_key=True)
    device_id = models.CharField(_("device"), max_length=64, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Looked up through the open-conflicts index below, never alone.
    site = models.ForeignKey(
        "campaigns.Site",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    type = models.CharField(_("type"), max_length=20, choices=EventType.choices)
    tube_code = models.CharField(_("tube"), max_length=MAX_CODE_LENGTH, blank=True)
    person = models.ForeignKey(
        "people.Person",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # What the event said, without raw scan text: a CCCD QR carries a name, a date
    # of birth and an address, which the person record already holds.
    payload = models.JSONField(default=dict, blank=True)
    client_at = models.DateTimeField(_("at (station clock)"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    fate = models.CharField(_("fate"), max_length=10, choices=Fate.choices)
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        verbose_name = _("station event")
        verbose_name_plural = _("station events")
        ordering = ["received_at"]
        indexes = [
            models.Index(
                fields=["site", "received_at"],
                condition=models.Q(fate=Fate.CONFLICT, resolved_at__isnull=True),
                name="station_event_open_conflicts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.client_event_id} → {self.fate}"

    def scope(self) -> Scope:
        return Scope(place_path=self.site.ward.path, site_id=self.site_id)


class DeviceSync(models.Model):
    """When each station device last synced, for the ward's site view."""

    device_id = models.CharField(_("device"), max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    site = models.ForeignKey("campaigns.Site", on_delete=models.PROTECT, related_name="devices")
    last_sync_at = models.DateTimeField(_("last sync"))
    pending_conflicts = models.PositiveIntegerField(_("conflicts pending"), default=0)

    class Meta:
        verbose_name = _("station device")
        verbose_name_plural = _("station devices")
        ordering = ["site", "-last_sync_at"]

    def __str__(self) -> str:
        return self.device_id


def new_event_id() -> uuid.UUID:
    """An event id for captures made on the server itself (not by a station)."""
    return uuid.uuid4()
