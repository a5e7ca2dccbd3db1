"""Every log line the suite writes is scanned for personal data.

A handler with the production formatter (`JsonFormatter`) sits on the root logger
for the whole session; at the end, each line is searched for phone numbers, CCCDs,
person names, look-up codes and secrets. Any hit fails the run and names the test
that logged it. (The formatter's allow-list is the first guard; this proves it.)
"""

from __future__ import annotations

import logging
import re
from typing import Any

from swabline.core.logs import JsonFormatter

# Common Vietnamese family names followed by a capitalised word: how names look.
_FAMILY = "Nguyễn|Trần|Lê|Phạm|Hoàng|Huỳnh|Phan|Vũ|Võ|Đặng|Bùi|Đỗ|Hồ|Ngô|Dương|Lý|Đinh|Trương|Lâm"
PATTERNS: dict[str, re.Pattern[str]] = {
    "phone": re.compile(r"(?<![\d.])(?:\+84|84|0)[35789]\d{8}(?!\d)"),
    "CCCD": re.compile(r"(?<![\d.])0\d{2}[0-3]\d{8}(?!\d)"),
    "name": re.compile(rf"\b(?:{_FAMILY}) [A-ZĐÂĂÊÔƠƯ][\wÀ-ỹ]+", re.UNICODE),
    "folded name": re.compile(r"\bnguyen van\b|\btran thi\b", re.IGNORECASE),
    "secret": re.compile(r"(?i)\bbearer\s+[\w.-]{8,}|\bHC1:|sessionid=|csrftoken="),
}


def find_personal_data(line: str) -> list[str]:
    """The kinds of personal data found in one log line."""
    return [kind for kind, pattern in PATTERNS.items() if pattern.search(line)]


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.test = "(collection)"
        self.hits: list[tuple[str, list[str], str]] = []
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted is not ours to judge
            return
        self.lines += 1
        kinds = find_personal_data(line)
        if kinds:
            self.hits.append((self.test, kinds, line))


_recorder = _Recorder()


def pytest_sessionstart(session: Any) -> None:
    logging.getLogger().addHandler(_recorder)


def pytest_runtest_setup(item: Any) -> None:
    _recorder.test = item.nodeid


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_recorder)
    if _recorder.hits and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _recorder.hits:
        terminalreporter.write_line(f"Log scan: {_recorder.lines} log lines, no personal data")
        return
    terminalreporter.section("personal data in logs", red=True)
    for test, kinds, line in _recorder.hits[:50]:
        terminalreporter.write_line(f"{test}: {', '.join(kinds)}: {line[:300]}")
    terminalreporter.write_line(f"Log scan: {len(_recorder.hits)} lines with personal data")
