"""Fixed-window rate limits kept in the cache (Redis in production: atomic across
processes; the local-memory cache in development counts per process)."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def hit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one event for `key`; True while the count stays within `limit` per window."""
    bucket = f"rl:{key}:{int(time.time()) // window_seconds}"
    cache.add(bucket, 0, timeout=window_seconds + 1)
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=window_seconds + 1)
        count = 1
    return count <= limit


def count(key: str, *, window_seconds: int) -> int:
    """How many events `hit` has counted for `key` in the current window (no count)."""
    bucket = f"rl:{key}:{int(time.time()) // window_seconds}"
    return int(cache.get(bucket, 0))
