"""`num`: an integer with the language's thousands separator, without the cost of
`intcomma` (a full locale lookup per call: a province page shows ~1,000 numbers)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import get_language

register = template.Library()


@register.filter
def num(value: Any) -> str:
    if value is None or value == "":
        return ""
    try:
        text = f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
    return text.replace(",", ".") if (get_language() or "").startswith("vi") else text
