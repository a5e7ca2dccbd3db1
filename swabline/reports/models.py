"""Per-campaign settings of the analysis pages."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.reports.maths import DEFAULT_POOL_SIZES


def default_sizes() -> list[int]:
    return list(DEFAULT_POOL_SIZES)


class PoolSizePolicy(models.Model):
    """The pool sizes the campaign's labs allow; the advisor recommends among them
    (and never above the campaign's pool size limit). Without a row: 1, 3, 5, 10."""

    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="pool_size_policy"
    )
    sizes = models.JSONField(_("allowed pool sizes"), default=default_sizes)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("pool size policy")
        verbose_name_plural = _("pool size policies")

    def __str__(self) -> str:
        return f"{self.campaign}: {self.sizes}"
