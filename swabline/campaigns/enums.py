from django.db import models
from django.utils.translation import gettext_lazy as _


class TestType(models.TextChoices):
    RT_PCR_POOLED = "rt_pcr_pooled", _("RT-PCR, pooled")
    RT_PCR_INDIVIDUAL = "rt_pcr_individual", _("RT-PCR, individual")
    RAPID_ANTIGEN = "rapid_antigen", _("Rapid antigen")


class CampaignStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")
