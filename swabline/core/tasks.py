"""Background work on Django's tasks API (the django-tasks backport, database worker).

`retrying_task` wraps a task function so that a failure is recorded by the
worker (status FAILED, with its traceback) and the task is enqueued again with
exponential backoff, up to `TASK_MAX_ATTEMPTS` attempts in all.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_tasks import task
from django_tasks.base import Task

log = logging.getLogger(__name__)


def retry_delay(attempt: int) -> timedelta:
    """Wait before attempt `attempt + 1`: base, 2×base, 4×base … capped at one hour."""
    return timedelta(seconds=min(3600, settings.TASK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)))


def retrying_task(
    *, max_attempts: int | None = None, queue_name: str = "default", priority: int = 0
) -> Callable[[Callable[..., Any]], Task[..., Any]]:
    """Decorator: a task that is retried with backoff when it raises.

    The task receives `attempt` (1, 2, …) as a keyword argument if it declares it.
    Task functions must be idempotent: a retry may follow a partial external effect.
    """

    def decorate(func: Callable[..., Any]) -> Task[..., Any]:
        wants_attempt = (
            "attempt"
            in func.__code__.co_varnames[
                : func.__code__.co_argcount + func.__code__.co_kwonlyargcount
            ]
        )

        @functools.wraps(func)
        def run(*args: Any, attempt: int = 1, **kwargs: Any) -> Any:
            try:
                if wants_attempt:
                    kwargs["attempt"] = attempt
                return func(*args, **kwargs)
            except Exception:
                kwargs.pop("attempt", None)
                limit = max_attempts or settings.TASK_MAX_ATTEMPTS
                if attempt < limit:
                    when = timezone.now() + retry_delay(attempt)
                    the_task.using(run_after=when).enqueue(*args, attempt=attempt + 1, **kwargs)
                    log.warning(
                        "task failed; retry scheduled",
                        extra={"task": the_task.name, "attempt": attempt},
                    )
                else:
                    log.error(
                        "task failed; giving up", extra={"task": the_task.name, "attempt": attempt}
                    )
                raise

        the_task: Task[..., Any] = task(queue_name=queue_name, priority=priority)(run)
        return the_task

    return decorate
