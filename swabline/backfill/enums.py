"""Where a late entry came from."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class EntrySource(models.TextChoices):
    SCREEN = "screen", _("Backfill screen")
    XLSX = "xlsx", _("Spreadsheet upload")
    API = "api", _("API")
