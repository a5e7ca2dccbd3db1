"""Dashboards and exports read from a PostgreSQL streaming replica.

`ReplicaReadsMiddleware` marks the requests of the views named in
`REPLICA_READ_VIEWS` (GET and HEAD only); inside them `ReplicaRouter` sends reads
to `DATABASES["replica"]` while that replica answers and is less than
`REPLICA_MAX_LAG_SECONDS` behind, and to the primary otherwise. Writes (audit
events of an export, sessions) always go to the primary. The replica's state is
checked at most every `REPLICA_CHECK_SECONDS` per process (docs/deploy.md).
"""

from __future__ import annotations

import contextvars
import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

log = logging.getLogger(__name__)

_replica_reads: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "replica_reads", default=False
)

# Primary first: if the replica has replayed up to where the primary was a moment
# ago, it lags by nothing; otherwise by the age of the last transaction it replayed
# (a replica cut off from its primary, or paused, ages until it is refused).
_PRIMARY_LSN_SQL = "SELECT pg_current_wal_lsn()::text"
_REPLICA_LAG_SQL = """
SELECT pg_is_in_recovery(),
       COALESCE(pg_last_wal_replay_lsn() >= %s::pg_lsn, false),
       EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
"""


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside this block may be served by the replica (read-only work only)."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


@dataclass(frozen=True)
class ReplicaState:
    usable: bool
    lag_seconds: float | None
    reason: str


def replica_state(*, primary: str, replica: str, max_lag_seconds: float) -> ReplicaState:
    """Ask the primary where it is and the replica how far it has replayed."""
    try:
        with connections[primary].cursor() as cursor:
            cursor.execute(_PRIMARY_LSN_SQL)
            (primary_lsn,) = cursor.fetchone()
    except DatabaseError:
        return ReplicaState(False, None, "primary unreachable")
    try:
        with connections[replica].cursor() as cursor:
            cursor.execute(_REPLICA_LAG_SQL, [primary_lsn])
            in_recovery, caught_up, age = cursor.fetchone()
    except DatabaseError:
        connections[replica].close()  # reconnect at the next check
        return ReplicaState(False, None, "replica unreachable")
    if not in_recovery:
        return ReplicaState(False, None, "not a replica (promoted?)")
    lag = 0.0 if caught_up else (float("inf") if age is None else float(age))
    if lag > max_lag_seconds:
        return ReplicaState(False, lag, "replica lags")
    return ReplicaState(True, lag, "ok")


class ReplicaRouter:
    """Reads marked by `replica_reads()` go to the replica while it is usable."""

    def __init__(
        self,
        primary: str = "default",
        replica: str = "replica",
        max_lag_seconds: float | None = None,
        check_seconds: float | None = None,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_seconds = (
            settings.REPLICA_MAX_LAG_SECONDS if max_lag_seconds is None else max_lag_seconds
        )
        self.check_seconds = (
            settings.REPLICA_CHECK_SECONDS if check_seconds is None else check_seconds
        )
        self._lock = threading.Lock()
        self._checked_at = -float("inf")
        self._state = ReplicaState(False, None, "not checked")

    def state(self) -> ReplicaState:
        """The replica's state, asked again once `check_seconds` have passed."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at < self.check_seconds:
                return self._state
            self._checked_at = now
        state = replica_state(
            primary=self.primary, replica=self.replica, max_lag_seconds=self.max_lag_seconds
        )
        if state.usable != self._state.usable:
            log.log(
                logging.INFO if state.usable else logging.WARNING,
                "replica %s", "in use" if state.usable else "refused",
                extra={"reason": state.reason, "lag_seconds": state.lag_seconds},
            )  # fmt: skip
        self._state = state
        return state

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        """The replica for marked reads, unless the request is inside a transaction on
        the primary (it may read back its own writes or lock rows) or the replica is
        down or behind."""
        if not _replica_reads.get() or self.replica not in connections:
            return self.primary
        if connections[self.primary].in_atomic_block:
            return self.primary
        return self.replica if self.state().usable else self.primary

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return self.primary

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return True  # the replica holds the primary's rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == self.primary


def reads_from_replica(view_name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(view_name, pattern) for pattern in patterns)


class ReplicaReadsMiddleware:
    """Marks GET/HEAD requests of the views in `REPLICA_READ_VIEWS` (fnmatch
    patterns of `namespace:name`) for `replica_reads()`, streamed bodies included.
    Put it last: the views of earlier middleware (sessions, auth) read the primary."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        token = getattr(request, "_replica_reads_token", None)
        if token is not None:
            _replica_reads.reset(token)
            if isinstance(response, StreamingHttpResponse):
                response.streaming_content = _in_replica_reads(response.streaming_content)
        return response

    def process_view(self, request: HttpRequest, *args: Any) -> None:
        match = request.resolver_match
        if request.method not in ("GET", "HEAD") or match is None:
            return
        if reads_from_replica(match.view_name, settings.REPLICA_READ_VIEWS):
            request._replica_reads_token = _replica_reads.set(True)  # type: ignore[attr-defined]


def _in_replica_reads(chunks: Any) -> Iterator[Any]:
    with replica_reads():
        yield from chunks
