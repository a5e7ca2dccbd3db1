"""Benchmark knobs, all from the environment so `make bench` needs no arguments."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEGS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/swabline_bench"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


def _list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


@dataclass(frozen=True)
class Config:
    seconds: float
    warmup: float
    # Measure every case this many times; the report shows the median-rate round.
    rounds: int
    legs: list[str]
    cases: list[str]
    postgres_url: str
    # The server: granian worker processes and WSGI threads per worker.
    workers: int
    threads: int
    # The HTTP client: keep-alive connections in all, spread over client processes.
    connections: int
    client_processes: int
    output: Path
    # Before each case, wait up to quiet_wait seconds for the machine to be under
    # quiet_pct % busy (someone else's build would skew the figures).
    quiet_pct: float
    quiet_wait: float

    @classmethod
    def from_env(cls) -> Config:
        legs = _list("BENCH_LEGS", ",".join(LEGS))
        unknown = sorted(set(legs) - set(LEGS))
        if unknown:
            raise SystemExit(f"BENCH_LEGS: unknown leg(s) {unknown}; choose from {list(LEGS)}")
        return cls(
            seconds=_float("BENCH_SECONDS", 10.0),
            warmup=_float("BENCH_WARMUP", 1.0),
            rounds=max(1, _int("BENCH_ROUNDS", 1)),
            legs=legs,
            cases=_list("BENCH_CASES"),
            postgres_url=os.environ.get("BENCH_POSTGRES_URL", "") or DEFAULT_POSTGRES_URL,
            workers=_int("BENCH_WORKERS", 2),
            threads=_int("BENCH_THREADS", 1),
            connections=_int("BENCH_CONNECTIONS", 4),
            client_processes=_int("BENCH_CLIENT_PROCESSES", 2),
            output=Path(os.environ.get("BENCH_OUTPUT", "") or ROOT / "docs" / "performance.md"),
            quiet_pct=_float("BENCH_QUIET_PCT", 15.0),
            quiet_wait=_float("BENCH_QUIET_WAIT", 120.0),
        )
