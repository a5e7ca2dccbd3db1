"""`make soak`'s report (soak/__main__.py; locust itself is never imported here):
the verdicts it prints and the section it rewrites in docs/performance.md."""

from __future__ import annotations

from pathlib import Path

from soak.__main__ import END, START, Settings, memory_verdict, report, write

STATS = [
    {"Name": "station: scan", "Request Count": "100", "Failure Count": "0", "Requests/s": "10",
     "50%": "20", "95%": "40", "99%": "45"},
    {"Name": "citizen: look-up", "Request Count": "50", "Failure Count": "2", "Requests/s": "3.5",
     "50%": "30", "95%": "60", "99%": "70"},
    {"Name": "Aggregated", "Request Count": "150", "Failure Count": "2", "Requests/s": "13.5",
     "50%": "25", "95%": "50", "99%": "65"},
]  # fmt: skip


def test_memory_is_flat_within_ten_percent_after_warm_up():
    warm = [(t, 100.0 + (50 if t < 20 else 0)) for t in range(0, 100, 5)]  # warm-up spike
    assert memory_verdict(warm)[0] == "flat"
    growing = [(t, 300.0 + 3 * t) for t in range(0, 200, 5)]
    verdict, first, last = memory_verdict(growing)
    assert (verdict, first < last) == ("**growing**", True)
    assert memory_verdict([(0, 1.0), (5, 1.0)])[0] == "too short to tell"


def test_report_counts_errors_and_rewrites_only_its_section(tmp_path: Path):
    result = {"stats": STATS, "rss": [(t, 200.0) for t in range(0, 100, 5)], "failures": [],
              "seconds": 60.0, "released": "released 3 tubes", "port": 8630}  # fmt: skip
    text, errors = report(Settings(minutes=1), result)
    assert errors == 2
    assert "| station: scan | 100 | 0 | 10.0 | 20 | 40 | 45 |" in text
    assert "p99 met" in text and "**p99 not met**" in text  # 45 ≤ 50 ms; 70 > 50 ms
    assert "| citizen: look-up | 50 | 2 | 10.0 |" in text  # 3.5/s over its 35 % phase
    doc = tmp_path / "performance.md"
    doc.write_text(f"before\n{START}\nold\n{END}\nafter\n", encoding="utf-8")
    write(doc, "new")
    assert doc.read_text(encoding="utf-8") == f"before\n{START}\nnew\n{END}\nafter\n"
    fresh = tmp_path / "fresh.md"
    write(fresh, "first")
    assert f"{START}\nfirst\n{END}" in fresh.read_text(encoding="utf-8")
