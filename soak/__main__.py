"""`make soak` (`python -m soak`): a campaign day of load against granian +
PostgreSQL on 127.0.0.1, then its numbers into docs/performance.md.

1. a fresh database SOAK_POSTGRES_URL (default .../swabline_soak on the local
   server; dropped and made again), migrated and seeded (soak/seed.py);
2. granian, SOAK_WORKERS WSGI workers, on a free port of 8630-8639;
3. locust, headless, soak/locustfile.py for SOAK_MINUTES (default 10); at 60 % of
   the run the supervisor's release (soak.seed release), then the look-up spike;
4. every SOAK_RSS_SECONDS the resident memory of granian's processes;
5. the report: errors, rate, p50/p95/p99 per request type, RSS over time, written
   between the soak markers of docs/performance.md (SOAK_OUTPUT elsewhere).

Exits 1 when any request failed (an HTTP error or a wrong answer).
"""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg

from tests.faults.procs import WEB_PORTS, free_port

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
START = "<!-- soak:results:start -->"
END = "<!-- soak:results:end -->"
# The goals the load doubles, and the latency each request type must keep.
GOALS = {
    "station: scan": ("#4: 1,000 scans/s, p99 ≤ 50 ms", 50.0),
    "citizen: look-up": ("#6: 1,500 look-ups/s, p99 ≤ 50 ms", 50.0),
}
RELEASE_AT = 0.6
# The share of the run each request type is sent in (soak/locustfile.py's phases).
WINDOWS = {"citizen: look-up": 0.35, "lab: results (10 tubes)": 0.3}


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


@dataclass
class Settings:
    minutes: float = field(default_factory=lambda: env_float("SOAK_MINUTES", 10))
    url: str = field(
        default_factory=lambda: os.environ.get(
            "SOAK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/swabline_soak"
        )
    )
    workers: int = field(default_factory=lambda: int(env_float("SOAK_WORKERS", 2)))
    rss_every: float = field(default_factory=lambda: env_float("SOAK_RSS_SECONDS", 5))
    scan_people: int = field(default_factory=lambda: int(env_float("SOAK_SCAN_PEOPLE", 20000)))
    lab_tubes: int = field(default_factory=lambda: int(env_float("SOAK_LAB_TUBES", 200)))
    output: Path = field(
        default_factory=lambda: Path(
            os.environ.get("SOAK_OUTPUT", ROOT / "docs" / "performance.md")
        )
    )


def fresh_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def child_env(s: Settings, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": s.url, "DJANGO_SETTINGS_MODULE": "swabline.settings",
           "LOG_LEVEL": "WARNING", **extra}  # fmt: skip
    env.pop("TEST_DATABASE_NAME", None)
    return env


def python(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"soak: {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def rss_mb(leader: psutil.Process) -> float:
    procs = [leader, *leader.children(recursive=True)]
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker restarting
            total += p.memory_info().rss
    return total / 2**20


def wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    import http.client

    ends = time.monotonic() + 90
    while time.monotonic() < ends:
        if server.poll() is not None:
            raise SystemExit("soak: granian exited at start")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("soak: granian did not answer /healthz")


def run(s: Settings, work: Path) -> dict[str, Any]:
    fresh_database(s.url)
    env = child_env(s, REGISTRATION_RATE_LIMIT="1000000")
    python(env, "manage.py", "migrate", "--no-input", "-v0")
    data = work / "data.json"
    print(python(env, "-m", "soak.seed", "prepare", str(data), str(s.scan_people),
                 str(s.lab_tubes)).strip())  # fmt: skip
    port = free_port(WEB_PORTS)  # the faults part's ports, as its tests use
    server = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "wsgi", "--http", "1", "--no-ws",
         "--host", HOST, "--port", str(port), "--workers", str(s.workers),
         "--blocking-threads", "1", "--log-level", "warning", "swabline.wsgi:application"],
        cwd=ROOT, env=env, stdout=(work / "granian.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    samples: list[tuple[float, float]] = []
    try:
        wait_healthy(port, server)
        leader = psutil.Process(server.pid)
        users = (
            1
            + int(os.environ.get("SOAK_STATION_USERS", 8))
            + int(os.environ.get("SOAK_LOOKUP_USERS", 8))
        )
        run_seconds = round(s.minutes * 60)
        locust_env = {**env, "SOAK_DATA": str(data), "SOAK_MINUTES": str(s.minutes),
                      "SOAK_RUN": uuid.uuid4().hex[:6].upper()}  # fmt: skip
        locust = subprocess.Popen(
            [str(Path(sys.executable).with_name("locust")), "-f", "soak/locustfile.py",
             "--headless", "--host", f"http://{HOST}:{port}", "--csv", str(work / "soak"),
             "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{run_seconds}s",
             "--only-summary", "--loglevel", "WARNING"],
            cwd=ROOT, env=locust_env, stdout=(work / "locust.log").open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        started = time.monotonic()
        released = ""
        while locust.poll() is None:
            elapsed = time.monotonic() - started
            samples.append((elapsed, rss_mb(leader)))
            if not released and elapsed >= RELEASE_AT * s.minutes * 60:
                released = python(env, "-m", "soak.seed", "release").strip()
                print(f"{elapsed:.0f} s: {released}")
            time.sleep(s.rss_every)
        seconds = time.monotonic() - started
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    return {"stats": read_stats(work / "soak_stats.csv"), "rss": samples,
            "failures": read_failures(work / "soak_failures.csv"), "seconds": seconds,
            "released": released, "port": port}  # fmt: skip


def read_stats(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_failures(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def memory_verdict(rss: Sequence[tuple[float, float]]) -> tuple[str, float, float]:
    """Mean RSS of the first and last fifth of the run after the first fifth (warm-up):
    flat when the end is within 10 % (and 50 MiB) of the start."""
    kept = [mb for _, mb in rss[len(rss) // 5 :]]
    if len(kept) < 5:
        return "too short to tell", 0.0, 0.0
    fifth = max(1, len(kept) // 5)
    first, last = sum(kept[:fifth]) / fifth, sum(kept[-fifth:]) / fifth
    flat = last - first <= max(0.1 * first, 50)
    return ("flat" if flat else "**growing**"), first, last


def report(s: Settings, result: dict[str, Any]) -> tuple[str, int]:
    rows = [r for r in result["stats"] if r["Name"] != "Aggregated"]
    total = next((r for r in result["stats"] if r["Name"] == "Aggregated"), None)
    errors = int(total["Failure Count"]) if total else 0
    load = os.getloadavg()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"Last run: {when}, {s.minutes:g} min (`SOAK_MINUTES={s.minutes:g} make soak`), "
        f"granian {s.workers} WSGI workers + PostgreSQL on 127.0.0.1, locust in one process "
        f"on the same 2 CPUs; load average at the end {load[0]:.1f}. {result['released']} at "
        f"{int(RELEASE_AT * 100)} % of the run.",
        "",
        "| request | count | errors | rate /s in its phase | p50 ms | p95 ms | p99 ms | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        goal, limit = GOALS.get(r["Name"], ("", 0.0))
        p99 = float(r["99%"] or 0)
        verdict = "" if not goal else (" — p99 met" if p99 <= limit else " — **p99 not met**")
        lines.append(
            f"| {r['Name']} | {r['Request Count']} | {r['Failure Count']} | "
            f"{float(r['Requests/s']) / WINDOWS.get(r['Name'], 1.0):.1f} | {r['50%']} | {r['95%']} | {r['99%']} | {goal}{verdict} |"
        )
    if total:
        lines.append(f"| **all** | {total['Request Count']} | **{errors}** | "
                     f"{float(total['Requests/s']):.1f} | {total['50%']} | {total['95%']} | "
                     f"{total['99%']} | 0 errors |")  # fmt: skip
    verdict, first, last = memory_verdict(result["rss"])
    lines += ["", f"Server RSS (granian and its workers): {verdict}; "
              f"{first:.0f} MiB after warm-up → {last:.0f} MiB at the end."]  # fmt: skip
    step = max(1, len(result["rss"]) // 12)
    points = ", ".join(f"{t:.0f} s {mb:.0f}" for t, mb in result["rss"][::step])
    lines.append(f"RSS over time (MiB): {points}.")
    for failure in result["failures"][:5]:
        lines.append(f"- failure: {failure.get('Name')}: {failure.get('Error')} "
                     f"× {failure.get('Occurrences')}")  # fmt: skip
    return "\n".join(lines), errors


def write(output: Path, text: str) -> None:
    doc = output.read_text(encoding="utf-8") if output.exists() else ""
    block = f"{START}\n{text}\n{END}"
    if START in doc and END in doc:
        doc = doc[: doc.index(START)] + block + doc[doc.index(END) + len(END) :]
    else:
        doc = (
            doc.rstrip("\n") + f"\n\n## Soak: a campaign day under load (`make soak`)\n\n{block}\n"
        )
    output.write_text(doc, encoding="utf-8")


def main() -> int:
    s = Settings()
    work = Path(tempfile.mkdtemp(prefix="swabline-soak-"))  # logs kept for a look
    result = run(s, work)
    print(f"soak: locust and granian logs in {work}")
    text, errors = report(s, result)
    write(s.output, text)
    print(text)
    if errors:
        print(f"soak: {errors} failed requests", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
