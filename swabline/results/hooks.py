"""Calls the results app makes to apps that come after it.

Dependencies point one way (DESIGN §9: results → notifications), so a later app
registers a function here from its `AppConfig.ready`, and the results services call
`outcomes_written(release)` inside their transaction, right after a release, a
rejection or a correction appended its `Outcome` rows (`release.outcomes`). What a
listener writes commits or rolls back with the release itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swabline.results.models import Release

OutcomesListener = Callable[["Release"], object]  # what it answers is ignored

_listeners: list[OutcomesListener] = []


def on_outcomes_written(listener: OutcomesListener) -> None:
    """Register `listener` (idempotent: registering the same function twice keeps one)."""
    if listener not in _listeners:
        _listeners.append(listener)


def outcomes_written(release: Release) -> None:
    """Tell every listener that `release` appended outcome rows (inside its transaction)."""
    for listener in _listeners:
        listener(release)
