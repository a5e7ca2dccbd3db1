from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """Where a record lives, for access checks: the path of the place it falls
    under, and its site or lab if it belongs to one."""

    place_path: str
    site_id: int | None = None
    lab_id: int | None = None
