from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone


class BenchRow(models.Model):
    """One small row: what a plain insert writes and a plain get reads back."""

    key = models.CharField(max_length=64, unique=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    # Declared because mypy's Django plugin reads swabline.settings, where this app is
    # not installed, so it would not add the default manager itself.
    objects: ClassVar[models.Manager[BenchRow]] = models.Manager()

    def __str__(self) -> str:
        return self.key
