"""Fixed-window rate limits kept in the cache (Redis in production: atomic across
processes; the local-memory cache in development counts per process)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind our TLS proxies (`TRUSTED_PROXIES`) it is the
    right-most X-Forwarded-For entry that is not one of them: the proxy appends the
    address it saw, and anything further left was written by the client itself."""
    address = str(request.META.get("REMOTE_ADDR", "unknown"))
    trusted = settings.TRUSTED_PROXIES
    if address not in trusted:
        return address
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if hop not in trusted:
            return hop
    return address


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
