"""Lab result vocabulary."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ResultValue(models.TextChoices):
    NEGATIVE = "negative", _("Negative")
    POSITIVE = "positive", _("Positive")
    INVALID = "invalid", _("Invalid")


class ResultSource(models.TextChoices):
    MANUAL = "manual", _("Entered at the bench")
    UPLOAD = "upload", _("Uploaded file")
    API = "api", _("Lab system (API)")


class ResultState(models.TextChoices):
    """A result's own life: entered by a technician, released by a supervisor;
    an amendment supersedes a released result and keeps it in the history."""

    ENTERED = "entered", _("Entered, awaiting release")
    RELEASED = "released", _("Released")
    SUPERSEDED = "superseded", _("Superseded by a correction")
    DISCARDED = "discarded", _("Discarded before release")


class UploadStatus(models.TextChoices):
    PREVIEWED = "previewed", _("Checked, not applied")
    APPLIED = "applied", _("Applied")
    FAILED = "failed", _("Refused")
