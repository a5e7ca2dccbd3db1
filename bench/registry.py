"""What a benchmark case is, and the registry the runner reads them from.

A case is a class in a module under bench/cases/, decorated with @register. It says
what it measures (kind "http" or "db"), which case is its baseline, and what target it
must meet. The runner measures every case on every database leg, then reports each
case's rate as a ratio to its baseline's rate measured in the same run.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

if TYPE_CHECKING:
    from bench.leg import Leg

Kind = Literal["http", "db"]


@dataclass(frozen=True)
class Target:
    """What a case must reach to pass; any field left None is not checked."""

    min_rate: float | None = None
    max_p99_ms: float | None = None
    min_ratio: float | None = None

    def describe(self, unit: str) -> str:
        parts = []
        if self.min_rate is not None:
            parts.append(f"≥{self.min_rate:,.0f} {unit}")
        if self.max_p99_ms is not None:
            parts.append(f"p99 ≤{self.max_p99_ms:g} ms")
        if self.min_ratio is not None:
            parts.append(f"ratio ≥{self.min_ratio:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Request:
    """One HTTP request for the load generator; the path is relative to the server."""

    method: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())


# A DB operation: called with (sequence number, rng); returns the units of work done
# (1 for one insert, the row count for a batch import).
DbOp = Callable[[int, random.Random], int]


class Case:
    """The common part of every case. Subclass HttpCase or DbCase, not this."""

    id: ClassVar[str]
    title: ClassVar[str]
    kind: ClassVar[Kind]
    unit: ClassVar[str]
    # The id of the case this one is compared with, or None for a root baseline.
    baseline: ClassVar[str | None] = None
    target: ClassVar[Target | None] = None
    # Legs to run on; None means every leg ("sqlite", "postgresql").
    legs: ClassVar[frozenset[str] | None] = None

    def setup(self, leg: Leg) -> None:
        """Runs once per leg in the leg process (Django configured), before measuring."""


class HttpCase(Case):
    """Load against the real server: `request` is called for every request sent."""

    kind: ClassVar[Kind] = "http"
    unit: ClassVar[str] = "req/s"
    # Concurrent keep-alive connections; None means the runner's default.
    connections: ClassVar[int | None] = None
    # True: every connection gets its own client process (`worker`), so requests that
    # a real client sends one after another (a phone's scans into its tube) are never
    # interleaved with another connection's by the case's own `request`.
    process_per_connection: ClassVar[bool] = False

    def request(self, worker: int, seq: int, rng: random.Random) -> Request:
        raise NotImplementedError


class DbCase(Case):
    """Work done in-process straight on the database, in as many processes as the
    server has workers (so it has the same parallelism as the HTTP cases)."""

    kind: ClassVar[Kind] = "db"
    unit: ClassVar[str] = "ops/s"

    def session(self, leg: Leg, worker: int) -> AbstractContextManager[DbOp]:
        """Opens this worker's connection and yields the operation to repeat."""
        raise NotImplementedError


_REGISTRY: dict[str, Case] = {}
C = TypeVar("C", bound=type[Case])


def register(cls: C) -> C:
    """Class decorator: adds one instance of the case to the registry."""
    case_id = cls.id
    if case_id in _REGISTRY:
        raise ValueError(f"benchmark case {case_id!r} is registered twice")
    if cls.kind not in ("http", "db"):
        raise ValueError(f"benchmark case {case_id!r} has unknown kind {cls.kind!r}")
    _REGISTRY[case_id] = cls()
    return cls


def load_cases() -> None:
    """Imports every module under bench/cases so their @register calls run."""
    import bench.cases

    for module in sorted(pkgutil.iter_modules(bench.cases.__path__), key=lambda m: m.name):
        importlib.import_module(f"bench.cases.{module.name}")


def all_cases() -> list[Case]:
    """Every registered case, each after its baseline, otherwise in registration order."""
    for case in _REGISTRY.values():
        if case.baseline is not None and case.baseline not in _REGISTRY:
            raise ValueError(f"case {case.id!r} names unknown baseline {case.baseline!r}")
    ordered: list[Case] = []
    seen: set[str] = set()

    def visit(case: Case, path: tuple[str, ...]) -> None:
        if case.id in seen:
            return
        if case.id in path:
            raise ValueError(f"baseline cycle: {' -> '.join((*path, case.id))}")
        if case.baseline is not None:
            visit(_REGISTRY[case.baseline], (*path, case.id))
        seen.add(case.id)
        ordered.append(case)

    for case in _REGISTRY.values():
        visit(case, ())
    return ordered


def select_cases(wanted: list[str]) -> list[Case]:
    """The cases named in `wanted` plus their baseline chains; all when empty."""
    cases = all_cases()
    if not wanted:
        return cases
    by_id = {case.id: case for case in cases}
    unknown = [name for name in wanted if name not in by_id]
    if unknown:
        raise SystemExit(f"unknown benchmark case(s): {', '.join(unknown)}; have {sorted(by_id)}")
    keep: set[str] = set()
    for name in wanted:
        current: str | None = name
        while current is not None:
            keep.add(current)
            current = by_id[current].baseline
    return [case for case in cases if case.id in keep]
