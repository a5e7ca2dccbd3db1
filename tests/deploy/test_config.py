"""The shipped deploy/ files hold together: the web unit's granian command serves the
app with production settings behind the proxy contract (X-Forwarded-Proto), and
every variable of deploy/env.example is one the code reads."""

from __future__ import annotations

import http.client
import os
import re
import shlex
import sys
from pathlib import Path

from tests.deploy.clusters import serving

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PORT = 8642


def web_command() -> list[str]:
    unit = (DEPLOY / "systemd" / "swabline-web.service").read_text()
    line = re.search(r"^ExecStart=(.*?)(?<!\\)$", unit.replace("\\\n", " "), re.M)
    assert line is not None
    words = shlex.split(line.group(1).replace("${WEB_WORKERS}", "1").replace("${WEB_THREADS}", "2"))
    assert words[0] == "/srv/swabline/app/.venv/bin/granian"
    words[0] = str(Path(sys.executable).parent / "granian")
    words[words.index("--port") + 1] = str(PORT)
    return words


def get(path: str, **headers: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    conn.request("GET", path, headers={"Host": "swabline.example.vn", **headers})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_the_web_unit_serves_production_settings_behind_the_proxy(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "TEST_DATABASE"))},
        "DJANGO_SETTINGS_MODULE": "swabline.settings",
        "SWABLINE_PRODUCTION": "1",
        "SECRET_KEY": "k" * 20 + "-deploy-config-test-" + "x" * 30,
        "ALLOWED_HOSTS": "swabline.example.vn",
        "TRUSTED_PROXIES": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
    }
    with serving(web_command(), PORT, cwd=ROOT, env=env):
        assert get("/healthz").status == 200, "the proxy's health check needs no HTTPS"
        plain = get("/dashboard/")
        assert plain.status == 301
        assert plain.getheader("Location") == "https://swabline.example.vn/dashboard/"
        proxied = get("/dashboard/", **{"X-Forwarded-Proto": "https"})
        assert proxied.status == 302, "HTTPS as the proxy says: on to the login page"
        assert proxied.getheader("Location", "").startswith("/accounts/login/")
        assert "max-age=31536000" in proxied.getheader("Strict-Transport-Security", "")


def test_every_variable_of_the_env_example_is_read() -> None:
    names = re.findall(r"^([A-Z_]+)=", (DEPLOY / "env.example").read_text(), re.M)
    code = (ROOT / "swabline" / "settings.py").read_text()
    units = "".join(p.read_text() for p in (DEPLOY / "systemd").glob("*.service"))
    unread = [n for n in names if f'"{n}"' not in code and "${" + n + "}" not in units]
    assert unread == []
    assert "DATABASE_POOLER=transaction" in (DEPLOY / "env.example").read_text()
    assert "pool_mode = transaction" in (DEPLOY / "pgbouncer" / "pgbouncer.ini").read_text()
