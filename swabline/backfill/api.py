"""`/api/v1/backfill`."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["backfill"])
