from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.campaigns.enums import CampaignStatus, TestType
from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope


class Campaign(CarriesProvince):
    """A round of screening (đợt xét nghiệm) over some wards of one province."""

    province_source = "province"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    province = models.ForeignKey(
        "places.Place",
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("province"),
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    test_type = models.CharField(
        _("test type"), max_length=20, choices=TestType.choices, default=TestType.RT_PCR_POOLED
    )
    pool_size_limit = models.PositiveSmallIntegerField(_("pool size limit"), default=10)
    status = models.CharField(
        _("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.PLANNED
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-starts_on", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")),
                name="campaign_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(pool_size_limit__gte=1, pool_size_limit__lte=50),
                name="campaign_pool_size_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def scope(self) -> Scope:
        return Scope(place_path=self.province.path)


class CampaignWard(models.Model):
    """A ward in a campaign's scope, with the population it must reach."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="wards")
    ward = models.ForeignKey("places.Place", on_delete=models.PROTECT, related_name="+")
    target_population = models.PositiveIntegerField(_("target population"), default=0)

    class Meta:
        verbose_name = _("campaign ward")
        verbose_name_plural = _("campaign wards")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "ward"], name="campaign_ward_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} / {self.ward}"


class Site(CarriesProvince):
    """A sampling point (điểm lấy mẫu) in a ward, for one campaign."""

    province_source = "ward"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="sites", verbose_name=_("campaign")
    )
    ward = models.ForeignKey(
        "places.Place", on_delete=models.PROTECT, related_name="sites", verbose_name=_("ward")
    )
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "name"], name="site_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def scope(self) -> Scope:
        return Scope(place_path=self.ward.path, site_id=self.pk)
