"""Structured logs: one JSON object per line, with no personal data.

Only the message, the logger, the level and whitelisted technical fields are
written. Callers pass ids (public ids, integer keys) in `extra`, never names,
phones or national IDs.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

SAFE_FIELDS = (
    "method",
    "path",
    "status",
    "duration_ms",
    "user_id",
    "task",
    "task_id",
    "attempt",
    "count",
    "event",
    "object_id",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in SAFE_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)
