"""The advisor's and the turnaround's arithmetic, checked against closed forms,
hand computations and properties (hypothesis)."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swabline.reports import maths
from swabline.reports.maths import TubeGroup

sizes = st.integers(min_value=1, max_value=50)
prevalences = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
allowed = st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=8)


# --- percentile, as PostgreSQL's percentile_cont --------------------------------------


def test_percentile_by_hand():
    values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
    assert maths.percentile(values, 0.5) == 55.0
    # 0.9 × 9 = 8.1: between the 9th (90) and 10th (100) value, a tenth of the way.
    assert maths.percentile(values, 0.9) == pytest.approx(91.0)
    assert maths.percentile([7.0], 0.9) == 7.0
    assert maths.percentile([], 0.5) is None
    assert maths.percentile([3.0, 1.0, 2.0], 0.5) == 2.0  # unsorted input


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=60))
def test_percentile_agrees_with_statistics(values):
    assert maths.percentile(values, 0.5) == pytest.approx(statistics.median(values), abs=1e-6)
    if len(values) >= 2:
        deciles = statistics.quantiles(values, n=10, method="inclusive")
        assert maths.percentile(values, 0.9) == pytest.approx(deciles[8], abs=1e-6)


# --- prevalence -----------------------------------------------------------------------


@given(
    size=sizes,
    tests=st.integers(min_value=1, max_value=500),
    data=st.data(),
)
def test_mle_of_one_size_is_the_closed_form(size, tests, data):
    positive = data.draw(st.integers(min_value=0, max_value=tests))
    p = maths.prevalence_mle([TubeGroup(size, tests, positive)])
    assert p == pytest.approx(maths.pooled_closed_form(size, tests, positive), abs=1e-9)


def test_mle_by_hand():
    # 100 pools of 10, 9 positive: 1 − 0.91^(1/10).
    assert maths.prevalence_mle([TubeGroup(10, 100, 9)]) == pytest.approx(1 - 0.91**0.1, abs=1e-12)
    # Individual tests alone: the observed share.
    assert maths.prevalence_mle([TubeGroup(1, 200, 5)]) == pytest.approx(0.025)
    assert maths.prevalence_mle([]) is None
    assert maths.prevalence_mle([TubeGroup(5, 0, 0)]) is None
    assert maths.prevalence_mle([TubeGroup(5, 40, 0), TubeGroup(1, 3, 0)]) == 0.0
    assert maths.prevalence_mle([TubeGroup(5, 4, 4)]) == 1.0


@given(
    st.lists(
        st.tuples(sizes, st.integers(min_value=1, max_value=200), st.floats(0, 1)),
        min_size=1,
        max_size=4,
    )
)
def test_mle_maximises_the_likelihood(raw):
    groups = [TubeGroup(k, n, round(n * share)) for k, n, share in raw]
    p = maths.prevalence_mle(groups)
    assert p is not None and 0.0 <= p <= 1.0

    def loglik(q: float) -> float:
        total = 0.0
        for g in groups:
            negative = (1 - q) ** g.size
            if g.positive:
                total += g.positive * math.log(max(1 - negative, 1e-300))
            if g.tests - g.positive:
                total += (g.tests - g.positive) * math.log(max(negative, 1e-300))
        return total

    best = loglik(p)
    for nearby in (p * 0.9, p * 1.1, p + 1e-3, p - 1e-3):
        if 0.0 <= nearby <= 1.0:
            assert loglik(nearby) <= best + 1e-6


def test_mixed_sizes_by_hand():
    """Pools of 10 (2 of 20 positive) and 100 individual tests (1 positive): the
    score ℓ′(θ) = 2·10/(e^(10θ) − 1) + 1/(e^θ − 1) − 18·10 − 99 is zero there."""
    p = maths.prevalence_mle([TubeGroup(10, 20, 2), TubeGroup(1, 100, 1)])
    assert p is not None
    theta = -math.log(1 - p)
    score = 20 / math.expm1(10 * theta) + 1 / math.expm1(theta) - 180 - 99
    assert score == pytest.approx(0, abs=1e-6)
    # Between the pools alone (1 − 0.9^0.1 ≈ 0.01048) and the individuals alone (0.01).
    assert 0.0100 < p < 0.01048


# --- Dorfman ------------------------------------------------------------------------


def test_expected_tests_by_hand():
    assert maths.expected_tests(1, 0.3) == 1.0
    assert maths.expected_tests(10, 0.0) == pytest.approx(0.1)
    assert maths.expected_tests(5, 0.01) == pytest.approx(0.2 + 1 - 0.99**5)
    assert maths.recall_fraction(10, 0.01) == pytest.approx(1 - 0.99**10)
    assert maths.recall_fraction(1, 0.5) == 0.0


@given(size=sizes, p=prevalences)
def test_expected_tests_bounds(size, p):
    e = maths.expected_tests(size, p)
    if size == 1:
        assert e == 1.0
    else:
        assert 1 / size - 1e-12 <= e <= 1 + 1 / size + 1e-12
        # More prevalence never makes pooling cheaper.
        assert maths.expected_tests(size, min(p + 0.01, 1.0)) >= e - 1e-12


@given(sizes=allowed, limit=st.integers(min_value=1, max_value=50), p=prevalences)
def test_recommendation_is_the_argmin_within_the_limit(sizes, limit, p):
    usable = maths.allowed_sizes(sizes, limit)
    assert 1 in usable and max(usable) <= limit
    best = maths.best_size(usable, p)
    assert best in usable
    assert all(maths.expected_tests(best, p) <= maths.expected_tests(k, p) + 1e-15 for k in usable)


@given(p=st.floats(min_value=0.31, max_value=1.0))
def test_pooling_never_helps_above_dorfmans_threshold(p):
    # Above 1 − 3^(−1/3) ≈ 0.3066 no pool size beats testing individually.
    assert maths.best_size([1, 2, 3, 5, 10, 20], p) == 1


def test_recommendations_at_known_prevalences():
    sizes = [1, 3, 5, 10]
    assert maths.best_size(sizes, 0.0) == 10
    assert maths.best_size(sizes, 0.005) == 10
    assert maths.best_size(sizes, 0.03) == 5  # E(5)=0.3413 < E(10)=0.3626 < E(3)=0.4207
    assert maths.best_size(sizes, 0.1) == 3  # E(3)=0.6043 < E(5)=0.6095
    assert maths.best_size(sizes, 0.4) == 1


def test_options_price_a_population():
    [individual, five] = maths.options([1, 5], 0.02, 1000)
    assert individual.tests_saved == 0 and individual.recalled == 0
    assert five.tests_per_person == pytest.approx(0.2 + 1 - 0.98**5)
    assert five.tests_saved == pytest.approx(1000 * (1 - five.tests_per_person))
    assert five.recalled == pytest.approx(1000 * (1 - 0.98**5))
