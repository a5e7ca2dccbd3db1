"""`/api/v1` operations of the shipping app."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["shipping"])
