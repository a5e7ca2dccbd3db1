"""The names of the counters the triggers keep (migration 0002) and how the page
derives its figures from them."""

from __future__ import annotations

from swabline.results.enums import STORED_STATES
from swabline.sampling.enums import TubeStatus

TUBE = {status: f"tube_{status}" for status in TubeStatus.values}
SAMPLES = "samples"
PEOPLE_SAMPLED = "people_sampled"
POSITIVE_POOLS = "positive_pools"
OUTCOME = {state.value: f"outcome_{state.value}" for state in STORED_STATES}
RELEASED = "released"  # hourly only: tube results released in that hour
RECALL = "recall"  # hourly only: current recall outcomes decided in that hour

SITE_METRICS = (*TUBE.values(), SAMPLES, PEOPLE_SAMPLED, POSITIVE_POOLS, *OUTCOME.values())
HOUR_METRICS = (SAMPLES, RELEASED, RECALL)
