"""Time-ordered ids (UUID version 7, RFC 9562 §5.7), as the station makes them.

A station names every capture event with an id of its own, which the server keeps
in unique indexes (the event log's key, a sample's `client_event_id`) and looks up
on every sync to answer a replay. Random ids (version 4) land on a random page of
those indexes each time: once the indexes outgrow the database's cache, each
lookup and insert reads a page from disk or the OS and dirties another. Version 7
ids begin with the time in milliseconds, so a day's events fill the right edge of
the index, the pages a sync touches stay hot, and old pages are left alone. Any
UUID is still accepted: ordering is a matter of speed, never of correctness.
"""

from __future__ import annotations

import os
import time
import uuid

_MS_BITS = 48


def uuid7(ms: int | None = None) -> uuid.UUID:
    """A version 7 UUID: 48 bits of Unix time in milliseconds, then 74 random bits."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 used
    value = (ms & ((1 << _MS_BITS) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)


def uuid7_ms(value: uuid.UUID) -> int:
    """The millisecond timestamp a version 7 UUID begins with."""
    return value.int >> 80
