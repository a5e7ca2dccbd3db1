"""Turns leg results into the stdout table and docs/performance.md.

Everything between the two markers in docs/performance.md is regenerated on each run;
text written above or below them by hand is kept. New cases show up in the per-leg
tables on their own: the tables list whatever cases the legs measured.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.config import Config

START_MARKER = "<!-- bench:results:start -->"
END_MARKER = "<!-- bench:results:end -->"
LEG_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

DEFAULT_PREAMBLE = """# Performance

How fast Swabline's endpoints are next to the least the same stack can do. Produced by
`make bench` (`python -m bench`, see `bench/README.md`); it is never part of `make test`.

"""

DEFAULT_EPILOGUE = """
## Reading these numbers

(Hand-written notes go here, outside the markers; `make bench` keeps them.)
"""


@dataclass(frozen=True)
class Row:
    case: str
    title: str
    result: str
    baseline: str
    ratio: str
    target: str
    verdict: str
    detail: list[str]


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine(legs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    versions = {leg["leg"]: leg.get("database", "") for leg in legs}
    postgres = versions.get("postgresql") or "not measured"
    return [
        ("CPUs (nproc)", str(len(os.sched_getaffinity(0)))),
        ("CPU model", _cpu_model()),
        ("Memory", _memory()),
        ("Kernel", f"{platform.system()} {platform.release()}"),
        ("Python", sys.version.split()[0]),
        ("Django", _package_version("django")),
        ("granian", _package_version("granian")),
        ("psycopg", _package_version("psycopg")),
        ("PostgreSQL server", postgres.removeprefix("PostgreSQL ")),
        ("SQLite library", sqlite3.sqlite_version),
    ]


def _rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}"


def _result_text(m: dict[str, Any], unit: str) -> str:
    text = (
        f"{_rate(m['rate'], unit)}; p50 {m['p50_ms']:.1f} / p95 {m['p95_ms']:.1f} / "
        f"p99 {m['p99_ms']:.1f} ms"
    )
    if m["errors"]:
        text += f"; **{m['errors']} errors**"
    return text


def rows_for(leg: dict[str, Any]) -> list[Row]:
    entries = {entry["id"]: entry for entry in leg.get("cases", [])}
    rows = []
    for entry in leg.get("cases", []):
        unit = entry["unit"]
        measured = entry.get("measurement")
        target = entry.get("target")
        baseline = entries.get(entry["baseline"]) if entry["baseline"] else None
        base_measured = baseline.get("measurement") if baseline else None
        ratio: float | None = None
        if measured and base_measured and base_measured["rate"] > 0:
            ratio = measured["rate"] / base_measured["rate"]

        if not entry["baseline"]:
            baseline_text = "— (is a baseline)"
        elif baseline and base_measured:
            baseline_text = (
                f"`{entry['baseline']}` {_rate(base_measured['rate'], baseline['unit'])}"
            )
        else:
            baseline_text = f"`{entry['baseline']}` not measured"

        failures: list[str] = []
        if measured is None:
            verdict = "ERROR"
        elif target is None:
            verdict = f"FAIL ({measured['errors']} errors)" if measured["errors"] else "—"
        else:
            if measured["errors"]:
                failures.append(f"{measured['errors']} errors")
            if target["min_rate"] is not None and measured["rate"] < target["min_rate"]:
                failures.append("rate")
            if target["max_p99_ms"] is not None and measured["p99_ms"] > target["max_p99_ms"]:
                failures.append("p99")
            if target["min_ratio"] is not None and (ratio is None or ratio < target["min_ratio"]):
                failures.append("ratio")
            verdict = "FAIL (" + ", ".join(failures) + ")" if failures else "pass"

        detail = []
        if measured:
            detail = [
                f"{measured['ops']:,}",
                f"{measured['p50_ms']:.2f}",
                f"{measured['p95_ms']:.2f}",
                f"{measured['p99_ms']:.2f}",
                f"{measured['max_ms']:.1f}",
                str(measured["errors"]),
                f"{measured['processes']} × {measured['concurrency'] // measured['processes']}",
                f"{measured['client_cpu_pct']:.0f}%",
                f"{measured['machine_busy_pct']:.0f}%",
                f"{measured.get('background_busy_pct', 0):.0f}%",
                ", ".join(f"{rate:,.0f}" for rate in entry.get("round_rates", [])),
            ]
        rows.append(
            Row(
                case=entry["id"],
                title=entry["title"],
                result=_result_text(measured, unit) if measured else "error (see run output)",
                baseline=baseline_text,
                ratio=f"{ratio:.2f}" if ratio is not None else "—",
                target=target["text"] if target else "—",
                verdict=verdict,
                detail=detail,
            )
        )
    return rows


def failed(legs: list[dict[str, Any]]) -> list[str]:
    """Why the run should exit non-zero: leg errors, case errors, missed targets."""
    problems = []
    for leg in legs:
        if leg.get("error"):
            problems.append(f"{leg['leg']}: leg failed")
        for row in rows_for(leg):
            if row.verdict == "ERROR" or row.verdict.startswith("FAIL"):
                problems.append(f"{leg['leg']}: {row.case} {row.verdict}")
    return problems


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown error"


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body)
    return lines


def markdown(legs: list[dict[str, Any]], config: Config, started: datetime) -> str:
    out = [
        START_MARKER,
        "",
        f"_Generated by `make bench` on {started:%Y-%m-%d %H:%M} UTC. Everything between the "
        "`bench:results` markers is rewritten on each run; notes outside them are kept._",
        "",
        "## Machine",
        "",
        *_table(["", ""], [[name, value] for name, value in machine(legs)]),
        "",
        "## Method",
        "",
        f"- Each case runs {config.warmup:g} s of warm-up (discarded), then "
        f"{config.seconds:g} s measured"
        + (
            f", in {config.rounds} rounds; the round with the median rate is shown"
            if config.rounds > 1
            else ""
        )
        + ". Closed loop: every worker sends its next "
        "operation as soon as the previous one answers, so the rate is the saturated "
        "throughput and the latencies are those at that saturation. Before each case the "
        f"harness waits (up to {config.quiet_wait:g} s) for the machine to be under "
        f"{config.quiet_pct:g}% busy; *busy before* in the details is that reading. On "
        "PostgreSQL it first runs `CHECKPOINT`, so what the setup or an earlier case wrote "
        "is not flushed during the measurement.",
        "- **HTTP cases** go to the real server: granian (WSGI, HTTP/1.1) on 127.0.0.1 "
        f"with {config.workers} worker process(es) × {config.threads} WSGI thread(s), "
        "settings `bench.settings` (the project's settings, middleware and database "
        "options, plus the baseline app), `LOG_LEVEL=WARNING`. The client keeps "
        f"{config.connections} keep-alive connections open, spread over "
        f"{config.client_processes} client processes, each a raw-socket selector loop, "
        "spread evenly over the server's workers. "
        "Anything but a 2xx answer counts as an error and not as throughput.",
        "- **DB cases** run the driver (sqlite3 / psycopg) directly, in as many processes "
        "as the server has workers, one operation per transaction (autocommit), on the "
        "same table with the same connection settings as Django (for SQLite: WAL, "
        "`synchronous=FULL`, `busy_timeout`).",
        "- **Ratio** is a case's rate over its baseline's rate, both measured in the same "
        "run on the same leg. The baselines are `plain-insert-http` and `plain-get-http` "
        "(a bare Django view doing the same work behind the same middleware), which are "
        "themselves compared with `raw-insert` and `raw-get`.",
        "- Latency percentiles are nearest-rank over every operation completed in the "
        "measured window.",
        *(
            [
                f"- Only some cases were run: `BENCH_CASES={','.join(config.cases)}` (plus their "
                "baselines)."
            ]
            if config.cases
            else []
        ),
        f"- The machine has {len(os.sched_getaffinity(0))} CPUs and the load generator, "
        "the server and the database all share them, so every figure is a floor, not "
        "what a dedicated server would do. The client is kept cheap (no http.client, no "
        "threads) and its CPU use is reported per case (*load CPU*: the HTTP client, or "
        "the driver processes of a DB case, in % of one CPU), next to how busy the whole "
        "machine was while measuring (*machine busy*, in % of all CPUs).",
        "- SQLite runs on a fresh file under /tmp; PostgreSQL on the `BENCH_POSTGRES_URL` "
        "database (created if missing), whose baseline table is emptied at the start.",
    ]
    for leg in legs:
        title = LEG_TITLES.get(leg["leg"], leg["leg"])
        out += ["", f"## {title}", ""]
        if leg.get("skipped"):
            out.append(f"Skipped: {leg['skipped']}")
            continue
        if leg.get("error") and not leg.get("cases"):
            out.append("The leg failed before measuring anything; see the run output.")
            continue
        server = leg.get("server", {})
        out += [
            f"{leg.get('database', '')}; server: {server.get('workers')} worker(s) × "
            f"{server.get('threads')} thread(s).",
            "",
        ]
        rows = rows_for(leg)
        out += _table(
            ["Case", "Result", "Baseline", "Ratio", "Target", "Pass/fail"],
            [[f"`{r.case}`", r.result, r.baseline, r.ratio, r.target, r.verdict] for r in rows],
        )
        out += ["", "<details><summary>Details</summary>", ""]
        out += _table(
            [
                "Case",
                "What",
                "Ops",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "Errors",
                "Procs × conns",
                "Load CPU",
                "Machine busy",
                "Busy before",
                "Rate per round",
            ],
            [[f"`{r.case}`", r.title, *r.detail] for r in rows if r.detail],
        )
        samples = [
            f"- `{entry['id']}`: {sample}"
            for entry in leg.get("cases", [])
            for sample in (entry.get("measurement") or {}).get("error_samples", [])
        ]
        failures = [
            f"- `{entry['id']}` failed: " + _last_line(entry["error"]).replace("|", "\\|")
            for entry in leg.get("cases", [])
            if entry.get("error")
        ]
        if samples:
            out += ["", "Error samples:", "", *samples]
        if failures:
            out += ["", "Cases that could not be measured (full tracebacks in the run output):"]
            out += ["", *failures]
        out += ["", "</details>"]
    out += ["", END_MARKER]
    return "\n".join(out) + "\n"


def write(path: Path, generated: str) -> None:
    """Replaces the marked section of `path`, keeping text around it; creates it if new."""
    if path.exists():
        current = path.read_text(encoding="utf-8")
        start, end = current.find(START_MARKER), current.find(END_MARKER)
        if 0 <= start < end:
            before = current[:start]
            after = current[end + len(END_MARKER) :].lstrip("\n")
            path.write_text(before + generated + ("\n" + after if after else ""), "utf-8")
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_PREAMBLE + generated + DEFAULT_EPILOGUE, encoding="utf-8")


def text(legs: list[dict[str, Any]]) -> str:
    """The plain-text table printed at the end of a run."""
    lines = []
    for leg in legs:
        title = LEG_TITLES.get(leg["leg"], leg["leg"])
        if leg.get("skipped"):
            lines += [f"{title}: skipped ({leg['skipped']})", ""]
            continue
        lines.append(f"{title} ({leg.get('database', '?')})")
        rows = rows_for(leg)
        header = ["case", "result", "baseline", "ratio", "target", "pass/fail"]
        body = [
            [
                r.case,
                r.result.replace("**", ""),
                r.baseline.replace("`", ""),
                r.ratio,
                r.target,
                r.verdict,
            ]
            for r in rows
        ]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        for row in [header, *body]:
            lines.append(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            )
        if leg.get("error"):
            lines.append("  (leg failed; see above)")
        lines.append("")
    return "\n".join(lines)


def now() -> datetime:
    return datetime.now(UTC)
