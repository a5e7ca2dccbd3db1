"""Where an HTTP case's time goes, in one process: `python -m bench.profile CASE [N]`.

Runs the case's setup against the PostgreSQL bench database (BENCH_POSTGRES_URL, as
`make bench`), then calls the WSGI application directly N times (default 2,000) with
the case's requests, after 200 discarded warm-up calls, and prints the CPU time per
request in this process and in the PostgreSQL backend, next to the case's baseline
measured the same way, turn about. With BENCH_PROFILE=1 it also prints cProfile's top
functions by cumulative and own CPU time (this process's; waits for the database are
not counted). No server, no sockets: the figures are the
application's own cost, which the load generator and the kernel only add to.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import random
import secrets
import sys
import time
from typing import Any

from bench.config import DEFAULT_POSTGRES_URL

WARMUP = 200


def _environ(request: Any) -> dict[str, Any]:
    path, _, query = request.path.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body or b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_LENGTH": str(len(request.body or b"")),
    }
    if request.body:
        environ["CONTENT_TYPE"] = request.content_type
    for name, value in request.headers:
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    case_id = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    url = os.environ.get("BENCH_POSTGRES_URL", "") or DEFAULT_POSTGRES_URL
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from bench.leg import Leg
    from bench.registry import HttpCase, load_cases, select_cases

    load_cases()
    cases = {case.id: case for case in select_cases([case_id])}
    leg = Leg(name="postgresql", database_url=url, token=secrets.token_hex(4), workers=1,
              threads=1, client_processes=1, connections_per_process=1)  # fmt: skip
    for case in cases.values():
        case.setup(leg)
    app = get_wsgi_application()
    rng = random.Random(1)

    def run(
        case: HttpCase, start: int, n: int, profiler: cProfile.Profile | None
    ) -> tuple[float, float, float]:
        requests = [case.request(0, start + i, rng) for i in range(n)]
        environs = [_environ(r) for r in requests]
        connection.ensure_connection()
        pid = connection.connection.info.backend_pid
        backend0, cpu0, wall0 = _backend_cpu(pid), time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        status: list[str] = []

        def start_response(line: str, headers: Any, exc_info: Any = None, /) -> Any:
            status.append(line)
            return None

        for environ in environs:
            status.clear()
            body = b"".join(app(environ, start_response))
            if not status[0].startswith("2"):
                raise SystemExit(f"{case.id}: {status[0]} {body[:300]!r}")
        if profiler:
            profiler.disable()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        return cpu / n * 1000, (_backend_cpu(pid) - backend0) / n * 1000, wall / n * 1000

    case = cases[case_id]
    baseline = cases.get(case.baseline or "")
    seq = 1
    for c in (case, baseline):
        if isinstance(c, HttpCase):
            run(c, seq, WARMUP, None)
    seq += WARMUP
    rows: dict[str, list[tuple[float, float, float]]] = {}
    profiler = cProfile.Profile(time.process_time) if os.environ.get("BENCH_PROFILE") else None
    for _ in range(3):  # turn about, so drift hits both alike
        for c in (case, baseline):
            if isinstance(c, HttpCase):
                rows.setdefault(c.id, []).append(
                    run(c, seq, count // 3, profiler if c is case else None)
                )
        seq += count // 3
    for name, runs in rows.items():
        py, pg, wall = (sorted(r[i] for r in runs)[len(runs) // 2] for i in range(3))
        print(
            f"{name:32} python {py:6.3f} ms  postgres {pg:6.3f} ms  wall {wall:6.3f} ms  (median of {len(runs)})"
        )
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        print(out.getvalue())


if __name__ == "__main__":
    main()
