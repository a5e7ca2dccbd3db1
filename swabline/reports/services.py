"""Writes of the reports app: the campaign's allowed pool sizes, and the audit
trail of every export of personal data."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.campaigns.models import Campaign
from swabline.reports.models import PoolSizePolicy
from swabline.reports.queries import ReportScope


def set_pool_sizes(*, by: Any, campaign: Campaign, sizes: Iterable[int]) -> PoolSizePolicy:
    """Set the pool sizes the campaign's labs allow (the advisor recommends among
    them). Needs MANAGE_CAMPAIGNS over the campaign's province. Sizes must be
    1..the campaign's pool size limit; duplicates collapse; 1 (individual testing)
    is always allowed. One transaction with an audit event `reports.pool_sizes_set`.
    Raises `PermissionDenied` or `ValidationError` (translated)."""
    if not has_permission(by, Permission.MANAGE_CAMPAIGNS, campaign):
        raise PermissionDenied
    chosen = sorted(set(sizes) | {1})
    too_big = [s for s in chosen if s < 1 or s > campaign.pool_size_limit]
    if too_big:
        raise ValidationError(
            _("Pool sizes must be between 1 and the campaign's limit of %(limit)d.")
            % {"limit": campaign.pool_size_limit}
        )
    with transaction.atomic():
        policy, _created = PoolSizePolicy.objects.select_for_update().get_or_create(
            campaign=campaign, defaults={"sizes": chosen, "updated_by": by}
        )
        before = policy.sizes
        policy.sizes = chosen
        policy.updated_by = by
        policy.save(update_fields=["sizes", "updated_by", "updated_at"])
        audit.record(
            by=by,
            action="reports.pool_sizes_set",
            subject=campaign,
            province_code=campaign.province_code,
            before=before,
            after=chosen,
        )
    return policy


def record_positives_export(*, by: Any, scope: ReportScope, rows: int) -> None:
    """Audit one export of the positive list (personal data): who, which campaign
    and place, how many people; the audit row carries the time."""
    audit.record(
        by=by,
        action="reports.positives_exported",
        subject=scope.campaign,
        province_code=scope.campaign.province_code,
        place=scope.place.code,
        rows=rows,
    )
