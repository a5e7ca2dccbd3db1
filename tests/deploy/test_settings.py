"""What the deployment's environment variables turn into (settings read in a fresh
process, since they are read once at import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHOW = """
import json
import swabline.settings as s
print(json.dumps({"databases": s.DATABASES, **({"routers": s.DATABASE_ROUTERS} if hasattr(s, "DATABASE_ROUTERS") else {}),
    "cache": s.CACHES["default"]["BACKEND"], "lookup_prepared": s.LOOKUP_PREPARED_STATEMENTS,
    "prepared": s.PREPARED_STATEMENTS,
    "middleware": s.MIDDLEWARE}, default=str))
"""


def settings_with(**env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_NAME"}}
    done = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "swabline.settings", **env},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_production_environment_turns_on_pooler_replica_and_redis() -> None:
    got = settings_with(
        DATABASE_URL="postgresql://swabline@127.0.0.1:6432/swabline",
        DATABASE_POOLER="transaction",
        REPLICA_DATABASE_URL="postgresql://swabline@10.0.0.2:5432/swabline",
        REDIS_URL="redis://127.0.0.1:6379/1",
    )
    default, replica = got["databases"]["default"], got["databases"]["replica"]
    assert default["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert default["OPTIONS"] == {"prepare_threshold": None}
    assert got["lookup_prepared"] is False
    assert got["prepared"] is False
    assert replica["HOST"] == "10.0.0.2"
    assert replica["TEST"]["MIRROR"] == "default", "tests never create a replica database"
    assert replica["OPTIONS"]["connect_timeout"] == 2, "a dead replica costs 2 s, then is skipped"
    assert got["routers"] == ["swabline.core.db_router.ReplicaRouter"]
    assert "swabline.core.db_router.ReplicaReadsMiddleware" in got["middleware"]
    assert got["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_without_them_one_database_and_a_local_cache() -> None:
    got = settings_with(DATABASE_URL="postgresql://swabline@127.0.0.1:5432/swabline")
    assert list(got["databases"]) == ["default"]
    assert got["databases"]["default"]["DISABLE_SERVER_SIDE_CURSORS"] is False
    assert got["lookup_prepared"] is True
    assert got["prepared"] is True
    assert "DATABASE_ROUTERS" not in got
    assert got["cache"] == "django.core.cache.backends.locmem.LocMemCache"
