"""The arithmetic behind the reports, without the database: percentiles as
PostgreSQL's `percentile_cont` computes them, prevalence from pooled tests, and
Dorfman's expected tests per person.

Pooled-testing notation: a tube of `k` people is positive when at least one member
is, so with prevalence `p` it is negative with probability `(1 − p)^k`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Sizes a lab pools by default (1 = individual testing).
DEFAULT_POOL_SIZES = (1, 3, 5, 10)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` quantile of `values` by linear interpolation between the two
    nearest ranks, exactly as PostgreSQL's `percentile_cont(fraction)`: position
    `fraction × (n − 1)` in the sorted values. None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class TubeGroup:
    """`tests` tubes of `size` people each, `positive` of which were positive."""

    size: int
    tests: int
    positive: int


def prevalence_mle(groups: Iterable[TubeGroup]) -> float | None:
    """Maximum-likelihood prevalence from pooled and individual tests together.

    Each tube of size k is a Bernoulli trial, positive with probability
    1 − (1 − p)^k. The log-likelihood, written in θ = −ln(1 − p),

        ℓ(θ) = Σ_g  x_g · ln(1 − e^(−k_g θ)) − (n_g − x_g) · k_g · θ

    (n_g tubes of size k_g, x_g positive) is concave in θ, so its maximum is the
    single zero of ℓ′(θ) = Σ x_g k_g / (e^(k_g θ) − 1) − (n_g − x_g) k_g, found by
    bisection. When every tube has the same size k it is the closed form
    p = 1 − (1 − x/n)^(1/k); individual tubes are simply k = 1. No positive tube
    gives 0; only positive tubes give 1. None without any test.
    """
    kept = [g for g in groups if g.tests > 0 and g.size > 0]
    if not kept:
        return None
    positives = sum(g.positive for g in kept)
    negatives = sum((g.tests - g.positive) * g.size for g in kept)
    if positives == 0:
        return 0.0
    if negatives == 0:
        return 1.0

    def score(theta: float) -> float:
        total = 0.0
        for g in kept:
            if g.positive:
                total += g.positive * g.size / math.expm1(g.size * theta)
            total -= (g.tests - g.positive) * g.size
        return total

    low, high = 1e-15, 1.0
    while score(high) > 0:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if score(middle) > 0:
            low = middle
        else:
            high = middle
    return -math.expm1(-(low + high) / 2)


def pooled_closed_form(size: int, tests: int, positive: int) -> float:
    """p = 1 − (1 − x/n)^(1/k) for n tubes of one size k, x positive."""
    return 1 - (1 - positive / tests) ** (1 / size)


def expected_tests(size: int, p: float) -> float:
    """Dorfman's expected tests per person with pools of `size`:
    E(k) = 1/k + 1 − (1 − p)^k (one pool test shared by k, plus k individual
    retests when the pool is positive); individual testing, k = 1, costs 1."""
    if size <= 1:
        return 1.0
    return 1 / size + 1 - (1 - p) ** size


def recall_fraction(size: int, p: float) -> float:
    """The expected share of people recalled for an individual sample: everyone in
    a positive pool, 1 − (1 − p)^k; nobody when testing individually."""
    if size <= 1:
        return 0.0
    return 1 - (1 - p) ** size


def allowed_sizes(sizes: Iterable[int], limit: int) -> list[int]:
    """The sizes a campaign may use: those configured, never above its pool size
    limit, always including individual testing."""
    return sorted({s for s in sizes if 1 <= s <= limit} | {1})


def best_size(sizes: Iterable[int], p: float) -> int:
    """The size with the fewest expected tests per person (the smaller one on a
    tie: fewer people to recall)."""
    return min(sizes, key=lambda k: (expected_tests(k, p), k))


@dataclass(frozen=True)
class Option:
    size: int
    tests_per_person: float
    tests_saved: float  # per `people`, against testing everyone individually
    recalled: float  # expected people recalled, per `people`


def options(sizes: Iterable[int], p: float, people: int) -> list[Option]:
    """What each size costs for `people` people at prevalence `p`."""
    return [
        Option(
            size=k,
            tests_per_person=expected_tests(k, p),
            tests_saved=people * (1 - expected_tests(k, p)),
            recalled=people * recall_fraction(k, p),
        )
        for k in sorted(sizes)
    ]
