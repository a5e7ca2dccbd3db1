"""Reads of the administrative-unit tree."""

from __future__ import annotations

from django.db.models import QuerySet

from swabline.core.text import fold
from swabline.places.enums import Level, System
from swabline.places.models import Place


def search(
    text: str,
    *,
    level: str | None = Level.WARD,
    province_code: str | None = None,
    system: str = System.CURRENT,
    within_path: str | None = None,
    limit: int = 20,
) -> QuerySet[Place]:
    """Places whose name contains `text`, with or without diacritics, best matches first."""
    qs = Place.objects.filter(system=system).select_related("parent")
    if level:
        qs = qs.filter(level=level)
    if province_code:
        qs = qs.filter(province_code=province_code)
    if within_path:
        qs = qs.filter(path__startswith=within_path)
    key = fold(text)
    if key:
        qs = qs.filter(name_folded__contains=key)
    return qs.order_by("name_folded", "code")[:limit]


def provinces(system: str = System.CURRENT) -> QuerySet[Place]:
    return Place.objects.filter(system=system, level=Level.PROVINCE).order_by("name_folded")
