"""With REDIS_URL set, rate limits are counted in Redis: two processes share one
count (a real redis-server of our own on port 8641, never the shared one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.test.utils import override_settings

from swabline.core import ratelimit
from swabline.core.databases import cache_settings
from tests.deploy.clusters import needs, once_per_run, serving

REDIS_SERVER = shutil.which("redis-server")
PORT = 8641
ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs(REDIS_SERVER is not None, "apt-get install -y redis-server")


@pytest.fixture
def redis_url() -> Iterator[str]:
    here = tempfile.mkdtemp(prefix="swabline-redis-")
    command = [REDIS_SERVER or "redis-server", "--port", str(PORT), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", here]  # fmt: skip
    try:
        with serving(command, PORT):
            yield f"redis://127.0.0.1:{PORT}/0"
    finally:
        shutil.rmtree(here, ignore_errors=True)


HITS = """
import json
from swabline.core import ratelimit
print(json.dumps([ratelimit.hit("drill", limit=5, window_seconds=3600) for _ in range(3)]))
"""


@once_per_run()
def test_two_processes_share_one_count(redis_url: str) -> None:
    with override_settings(CACHES=cache_settings(redis_url)):
        here = [ratelimit.hit("drill", limit=5, window_seconds=3600) for _ in range(3)]
        env = {**os.environ, "REDIS_URL": redis_url, "DJANGO_SETTINGS_MODULE": "swabline.settings"}
        env.pop("DATABASE_URL", None)
        other = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", HITS],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        there = json.loads(
            other.stdout.strip().splitlines()[-1].replace("True", "true").replace("False", "false")
        )
        assert here == [True, True, True]
        assert there == [True, True, False], "the other process saw this one's three hits"
        assert ratelimit.count("drill", window_seconds=3600) == 6


def test_the_client_address_comes_from_the_trusted_proxy_only() -> None:
    factory = RequestFactory()
    spoofed = "203.0.113.9, 198.51.100.7"  # the client wrote the first, the proxy the second
    behind = factory.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=spoofed)
    direct = factory.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=spoofed)
    with override_settings(TRUSTED_PROXIES=["127.0.0.1"]):
        assert ratelimit.client_ip(behind) == "198.51.100.7"
        assert ratelimit.client_ip(direct) == "192.0.2.1", "only our proxy may forward"
    with override_settings(TRUSTED_PROXIES=[]):
        assert ratelimit.client_ip(behind) == "127.0.0.1"
