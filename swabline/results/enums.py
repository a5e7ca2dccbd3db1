"""A person's outcome in a campaign (DESIGN §3, §4)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutcomeState(models.TextChoices):
    # Derived, never stored: a person with an active sample and no decided outcome
    # newer than it is awaiting; a person without a sample is not sampled.
    NOT_SAMPLED = "not_sampled", _("Not sampled")
    AWAITING = "awaiting", _("Awaiting result")
    # Stored as Outcome rows, written by release, rejection and correction.
    NEGATIVE = "negative", _("Negative")
    POSITIVE = "positive", _("Positive")
    RECALL = "recall", _("Recall: pool positive, individual sample needed")
    RECOLLECT = "recollect", _("Recollect: sample again")


STORED_STATES = (
    OutcomeState.NEGATIVE,
    OutcomeState.POSITIVE,
    OutcomeState.RECALL,
    OutcomeState.RECOLLECT,
)


class ReleaseKind(models.TextChoices):
    RELEASE = "release", _("Release")
    CORRECTION = "correction", _("Correction")
    REJECTION = "rejection", _("Tube rejected")
