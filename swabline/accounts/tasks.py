from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from swabline.accounts.models import ApiToken
from swabline.core.tasks import retrying_task


@retrying_task()
def prune_dead_tokens(*, keep_days: int = 30) -> int:
    """Delete tokens that expired or were revoked more than `keep_days` ago."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    deleted, _ = ApiToken.objects.filter(expires_at__lt=cutoff).delete()
    revoked, _ = ApiToken.objects.filter(revoked_at__lt=cutoff).delete()
    return deleted + revoked
