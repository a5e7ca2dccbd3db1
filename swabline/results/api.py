"""`/api/v1` operations of the results app."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["results"])
