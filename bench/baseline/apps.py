from __future__ import annotations

from django.apps import AppConfig


class BaselineConfig(AppConfig):
    """Plain-Django baseline endpoints; installed only by bench.settings."""

    name = "bench.baseline"
    label = "baseline"
    default_auto_field = "django.db.models.BigAutoField"
