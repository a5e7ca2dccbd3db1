"""Time-ordered ids (swabline/core/ids.py): what the station names its events with."""

from __future__ import annotations

import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from swabline.core.ids import uuid7, uuid7_ms


def test_a_uuid7_is_version_7_of_the_rfc_variant_and_starts_with_the_time():
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= uuid7_ms(value) <= after
    assert uuid.UUID(str(value)) == value


@given(st.integers(min_value=0, max_value=2**48 - 2))
def test_ids_of_a_later_millisecond_sort_after_earlier_ones(ms):
    earlier, later = uuid7(ms), uuid7(ms + 1)
    assert uuid7_ms(earlier) == ms
    assert str(earlier) < str(later) and earlier.bytes < later.bytes


def test_ids_of_the_same_millisecond_differ():
    ids = {uuid7(1_700_000_000_000) for _ in range(1000)}
    assert len(ids) == 1000
