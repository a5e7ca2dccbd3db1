"""Rollups that the command center reads, and the alarm thresholds of a campaign.

The counters are kept by database triggers (`triggers.py`, installed by migrations) in the same
transaction as the event that changes them, so every path counts: the station's
one-call scan, the sync engine, bulk releases, backfill, raw SQL. Nobody writes
them from Python except `services.rebuild_rollups` (a set-based recount). See
docs/decisions/0013-dashboard-rollups-by-trigger.md.

The counter tables are tall (one row per metric) so that one trigger statement
adds any mix of deltas with one upsert; their references carry no database
constraints (like the station's event log: a counter row must never make an
event's write fail), and Django still PROTECTs the rows they point to.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SiteCount(models.Model):
    """One counter (`metric`, see `metrics.py`) of one site in one campaign."""

    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    site = models.ForeignKey(
        "campaigns.Site",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    metric = models.CharField(max_length=24)
    n = models.BigIntegerField(default=0)
    # The site's province, written by the triggers from the counted row: it leads
    # the key so that a nation-scale deployment shards the counters by province.
    province_code = models.CharField(max_length=4, editable=False)

    class Meta:
        verbose_name = _("site counter")
        verbose_name_plural = _("site counters")
        constraints = [
            models.UniqueConstraint(
                fields=["province_code", "campaign", "site", "metric"],
                name="dashboard_sitecount_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.site_id} {self.metric}={self.n}"


class HourCount(models.Model):
    """One counter of one site in one campaign for one hour (UTC), for the charts."""

    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    site = models.ForeignKey(
        "campaigns.Site",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    metric = models.CharField(max_length=24)
    hour = models.DateTimeField()
    n = models.BigIntegerField(default=0)
    province_code = models.CharField(max_length=4, editable=False)

    class Meta:
        verbose_name = _("hourly counter")
        verbose_name_plural = _("hourly counters")
        constraints = [
            models.UniqueConstraint(
                fields=["province_code", "campaign", "site", "metric", "hour"],
                name="dashboard_hourcount_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.site_id} {self.metric}@{self.hour}={self.n}"


class WardCount(models.Model):
    """People registered as living in a ward (merged-away records not counted)."""

    ward = models.OneToOneField(
        "places.Place",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    registered = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("ward counter")
        verbose_name_plural = _("ward counters")

    def __str__(self) -> str:
        return f"{self.ward_id}: {self.registered}"


class AlarmThresholds(models.Model):
    """How long a tube (or a recalled person) may wait at each step before the
    command center raises a backlog alarm, per campaign. Minutes."""

    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="alarm_thresholds"
    )
    open_minutes = models.PositiveIntegerField(_("tube open for more than"), default=120)
    closed_minutes = models.PositiveIntegerField(
        _("closed but not shipped for more than"), default=180
    )
    shipped_minutes = models.PositiveIntegerField(
        _("shipped but not received for more than"), default=240
    )
    received_minutes = models.PositiveIntegerField(
        _("received but not resulted for more than"), default=720
    )
    resulted_minutes = models.PositiveIntegerField(
        _("resulted but not released for more than"), default=240
    )
    recall_minutes = models.PositiveIntegerField(
        _("recalled but not resampled for more than"), default=1440
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("alarm thresholds")
        verbose_name_plural = _("alarm thresholds")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    open_minutes__gte=1,
                    closed_minutes__gte=1,
                    shipped_minutes__gte=1,
                    received_minutes__gte=1,
                    resulted_minutes__gte=1,
                    recall_minutes__gte=1,
                ),
                name="alarm_thresholds_positive",
            ),
        ]

    def __str__(self) -> str:
        return str(self.campaign_id)
