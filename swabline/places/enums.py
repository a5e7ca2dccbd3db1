from django.db import models
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    PROVINCE = "province", _("Province")
    DISTRICT = "district", _("District")
    WARD = "ward", _("Ward")
    HAMLET = "hamlet", _("Hamlet / residential group")


class System(models.TextChoices):
    """Which administrative map a unit belongs to."""

    CURRENT = "current", _("Current (since 1 July 2025)")
    LEGACY = "legacy", _("Before 1 July 2025")
