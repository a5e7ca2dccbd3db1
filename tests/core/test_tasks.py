from __future__ import annotations

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from tests.core import flaky_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_failed_task_is_recorded_and_retried_until_it_succeeds(settings):
    settings.TASK_RETRY_BASE_SECONDS = 0
    flaky_tasks.failures_left = 2
    flaky_tasks.flaky.enqueue("payload-1")

    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)

    results = list(DBTaskResult.objects.order_by("enqueued_at", "id"))
    assert [r.status for r in results] == ["FAILED", "FAILED", "SUCCESSFUL"]
    assert "OSError: gateway down" in results[0].traceback
    assert [r.args_kwargs["kwargs"].get("attempt", 1) for r in results] == [1, 2, 3]
    assert flaky_tasks.done == ["payload-1"]


def test_task_gives_up_after_max_attempts(settings):
    settings.TASK_RETRY_BASE_SECONDS = 0
    flaky_tasks.failures_left = 10
    flaky_tasks.flaky.enqueue("payload-2")

    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)

    assert list(DBTaskResult.objects.values_list("status", flat=True)) == ["FAILED"] * 5


def test_prune_dead_tokens_runs_on_the_worker(world):
    from datetime import timedelta

    from django.utils import timezone

    from swabline.accounts.models import ApiToken
    from swabline.accounts.services import issue_token
    from swabline.accounts.tasks import prune_dead_tokens

    old, _ = issue_token(user=world.users["labtech_a"], name="old")
    issue_token(user=world.users["labtech_a"], name="fresh")
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=40))
    prune_dead_tokens.enqueue()
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["fresh"]
    assert DBTaskResult.objects.get().return_value == 1
