"""`DATABASES` and `CACHES` entries built from URLs (read by settings.py; no Django
imports here).

One function so the settings, the pgbouncer test and the replica test build their
connections the same way (docs/deploy.md).
"""

from __future__ import annotations

from typing import Any

import dj_database_url

POOLER_MODES = ("", "session", "transaction")


def database_settings(
    url: str, *, conn_max_age: int | None = 60, pooler: str = "", connect_timeout: int = 0
) -> dict[str, Any]:
    """A `DATABASES` entry for `url`.

    `pooler="transaction"`: the connection goes through pgbouncer in transaction
    mode, where one client's consecutive transactions may land on different server
    connections, so nothing may outlive a transaction: no server-side cursors
    (Django keeps them open across transactions `WITH HOLD`) and no prepared
    statements (psycopg's are per server connection; pgbouncer < 1.21 cannot follow
    them) — settings.py also turns the look-up's prepared statements off.
    """
    if pooler not in POOLER_MODES:
        raise ValueError(f"DATABASE_POOLER must be one of {POOLER_MODES!r}, not {pooler!r}")
    db: dict[str, Any] = dict(dj_database_url.parse(url))
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # Persistent connections matter a lot for SQLite (see TRAPS); WAL lets readers
        # and the writer work at once; synchronous=FULL because captured samples must
        # survive a power cut on a site laptop; IMMEDIATE avoids upgrade deadlocks.
        db["CONN_MAX_AGE"] = None
        db["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                "PRAGMA busy_timeout=20000; PRAGMA foreign_keys=ON;"
            ),
        }
    else:
        db["CONN_MAX_AGE"] = conn_max_age
        db["CONN_HEALTH_CHECKS"] = True
        options = dict(db.get("OPTIONS") or {})
        if connect_timeout:
            options["connect_timeout"] = connect_timeout
        if pooler == "transaction":
            db["DISABLE_SERVER_SIDE_CURSORS"] = True
            options["prepare_threshold"] = None
        db["OPTIONS"] = options
    db["ATOMIC_REQUESTS"] = False
    db.setdefault("TEST", {})
    return db


def cache_settings(redis_url: str, *, key_prefix: str = "swabline") -> dict[str, Any]:
    """`CACHES`: Redis when `redis_url` is set (rate limits and cached figures shared
    by every process; a Redis that stops answering fails fast, in two seconds),
    otherwise the local-memory cache (per process: development and tests)."""
    if not redis_url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
