"""Certificate vocabulary."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class KeyStatus(models.TextChoices):
    """A signing key's life: one ACTIVE key signs; after a rotation the old key stays
    PUBLISHED (its certificates still verify) until it expires or is RETIRED."""

    ACTIVE = "active", _("Signing")
    PUBLISHED = "published", _("Published, no longer signing")
    RETIRED = "retired", _("Retired")


# The DCC value sets for a test entry (eHN value sets, 2021+).
TARGET_COVID19 = "840539006"
RESULT_DETECTED = "260373001"
RESULT_NOT_DETECTED = "260415000"
TYPE_NAAT = "LP6464-4"  # nucleic acid amplification (RT-PCR)
TYPE_RAT = "LP217198-3"  # rapid immunoassay (rapid antigen)
DCC_VERSION = "1.3.0"
