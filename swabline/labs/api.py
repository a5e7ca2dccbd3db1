"""`/api/v1/labs` operations for lab systems (token auth, scoped to the lab)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["labs"])
