"""The log scanner itself: it must find what it looks for, and not cry wolf."""

from __future__ import annotations

import pytest

from tests.log_scan import find_personal_data


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ('{"message": "sms to +84912345678"}', "phone"),
        ('{"message": "sms to 0912345678"}', "phone"),
        ('{"message": "cccd 072190001234 matched"}', "CCCD"),
        ('{"message": "registered Nguyễn Văn Thử"}', "name"),
        ('{"message": "registered Trần Thị Bình"}', "name"),
        ('{"message": "search nguyen van an"}', "folded name"),
        ('{"message": "Authorization: Bearer abcDEF123456"}', "secret"),
        ('{"message": "code HC1:6BFOXN%TS3DH"}', "secret"),
    ],
)
def test_finds_personal_data(line: str, kind: str) -> None:
    assert kind in find_personal_data(line)


@pytest.mark.parametrize(
    "line",
    [
        '{"time": "2026-11-30T03:20:45.778595+00:00", "level": "INFO", "message": "request",'
        ' "method": "POST", "path": "api/v1/station/events", "status": 200,'
        ' "duration_ms": 88.01, "user_id": 6270}',
        '{"message": "release", "count": 1000000, "object_id": 123456789012345}',
        '{"message": "Lê lịch gửi tin"}',
    ],
)
def test_ordinary_lines_pass(line: str) -> None:
    assert find_personal_data(line) == []
