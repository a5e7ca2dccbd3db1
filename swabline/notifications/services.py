"""Writes of the notifications app: the outbox rows, their status changes, resends.

`queue_for_release` runs inside the results app's transaction (registered on
`swabline.results.hooks` by `apps.NotificationsConfig.ready`): one INSERT…SELECT from
the release's `Outcome` rows joined to people, consents and partner endpoints —
a handful of rows or a million, one statement (DESIGN §9). `transition` is the one
way a row's status changes (the table is `enums.ALLOWED`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.audit import services as audit
from swabline.notifications.enums import ALLOWED, Channel, Status, Trigger
from swabline.notifications.models import Notification
from swabline.people.models import Person
from swabline.results.enums import ReleaseKind
from swabline.results.models import Release

__all__ = ["enabled_channels", "queue_for_release", "resend", "transition"]

TRIGGER_OF_RELEASE: dict[str, str] = {
    ReleaseKind.RELEASE: Trigger.RELEASE,
    ReleaseKind.CORRECTION: Trigger.CORRECTION,
    ReleaseKind.REJECTION: Trigger.REJECTION,
}

COLUMNS = (
    "province_code, person_id, outcome_id, release_id, state, trigger, channel, recipient,"
    " endpoint_id, status, attempts, next_attempt_at, claim, reason, created_at, client_id"
)


def enabled_channels() -> list[str]:
    """The channels outbox rows are written for (`NOTIFY_CHANNELS`)."""
    wanted = getattr(settings, "NOTIFY_CHANNELS", Channel.values)
    return [c for c in Channel.values if c in wanted]


def _insert_select(where: str, params: list[Any], *, trigger: str, client_id: Any) -> int:
    """One INSERT…SELECT of outbox rows for the outcomes matching `where` (on `o`).

    SMS and e-mail come from one scan of the outcomes joined to people (a VALUES
    list of the enabled channels, the address picked per channel); partner webhooks
    from the active consents whose partner has an active endpoint.
    """
    channels = enabled_channels()
    now = timezone.now()
    # A bare NULL in a UNION is text to PostgreSQL: say it is a uuid.
    client_param = "CAST(%s AS uuid)" if connection.vendor == "postgresql" else "%s"
    head = (
        "SELECT o.province_code, o.person_id, o.id, o.release_id, o.state, %s, {channel},"
        " {recipient}, {endpoint}, %s, 0, %s, '', '', %s, " + client_param
    )
    client = Notification._meta.get_field("client_id").get_db_prep_value(client_id, connection)
    common = [trigger, Status.CREATED, now, now, client]
    parts: list[str] = []
    part_params: list[Any] = []
    direct = [c for c in channels if c in (Channel.SMS, Channel.EMAIL)]
    if direct:
        values = " UNION ALL ".join(f"SELECT '{c}' AS channel" for c in direct)
        parts.append(
            head.format(
                channel="ch.channel",
                recipient="CASE ch.channel WHEN 'sms' THEN p.phone ELSE p.email END",
                endpoint="NULL",
            )
            + f" FROM results_outcome o JOIN people_person p ON p.id = o.person_id"
            f" JOIN ({values}) ch ON (ch.channel = 'sms' AND p.phone <> '')"
            f" OR (ch.channel = 'email' AND p.email <> '') WHERE {where}"
        )
        part_params += [*common, *params]
    if Channel.WEBHOOK in channels:
        parts.append(
            head.format(channel="'webhook'", recipient="e.url", endpoint="e.id")
            + " FROM results_outcome o"
            " JOIN people_consent c ON c.person_id = o.person_id AND c.revoked_at IS NULL"
            " JOIN notifications_webhookendpoint e ON e.partner_id = c.partner_id"
            f" AND e.active = %s WHERE {where}"
        )
        part_params += [*common, True, *params]
    if not parts:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO notifications_notification ({COLUMNS}) " + " UNION ALL ".join(parts),
            part_params,
        )
        return int(cursor.rowcount)


def queue_for_release(release: Release) -> int:
    """Write the outbox rows for everyone whose outcome `release` decided.

    Called by the results services inside their transaction (a release, a
    rejection, or a correction — whose outcome rows are only the people whose state
    changed), so the rows commit or roll back with the outcomes. One row per
    outcome per channel: SMS to the person's phone, e-mail to their address, a
    webhook to each partner holding their active consent with an active endpoint.
    Returns the number of rows written.
    """
    trigger = TRIGGER_OF_RELEASE.get(release.kind, Trigger.RELEASE)
    if release.outcomes_after_id is None:  # a release from before the field existed
        where, params = "o.release_id = %s", [release.pk]
    else:  # a range of the primary key (outcomes have no index by release)
        where, params = "o.id > %s AND o.release_id = %s", [release.outcomes_after_id, release.pk]
    return _insert_select(where, params, trigger=trigger, client_id=None)


def resend(*, by: Any, person: Person, client_id: uuid.UUID) -> int:
    """Send a person's current outcomes again, to their current phone, e-mail and
    consented partners (new outbox rows; the old ones stay as history).

    Only staff holding HELP_CITIZENS at the person's place. Idempotent by
    `client_id` (a double-submitted form writes the rows once: the second call
    answers 0). Side effects, in one transaction: the rows, one audit event
    `notifications.resent` with the count. Raises `PermissionDenied`, or
    `ValidationError` when the person has no released outcome or no way to be
    reached.
    """
    if not has_permission(by, Permission.HELP_CITIZENS, person):
        raise PermissionDenied
    with transaction.atomic():
        if Notification.objects.filter(client_id=client_id).exists():
            return 0
        try:
            with transaction.atomic():
                written = _insert_select(
                    "o.person_id = %s AND o.current = %s",
                    [person.pk, True],
                    trigger=Trigger.RESEND,
                    client_id=client_id,
                )
        except IntegrityError:
            return 0  # a concurrent submit of the same form won
        if not written:
            raise ValidationError(
                _("Nothing to send: no released result, or no phone, e-mail or partner app.")
            )
        audit.record(
            by=by,
            action="notifications.resent",
            subject=person,
            province_code=person.province_code,
            count=written,
        )
    return written


def transition(ids: Iterable[int], to: str, *, claim: str | None = None, **fields: Any) -> int:
    """Move the rows `ids` to status `to`, from the statuses `ALLOWED[to]` only.

    Set-based (one UPDATE whatever the number of rows) and compare-and-set: rows in
    another status are left alone, and with `claim` only rows still held by that
    claim move (a worker whose lease ran out cannot overwrite its successor's
    work). `fields` are set with the status (times, reason, lease). Returns how
    many rows moved. Side effects: none beyond the rows (callers audit).
    """
    ids = list(ids)
    if to not in ALLOWED:
        raise ValueError(f"unknown status {to!r}")
    if not ids:
        return 0
    rows = Notification.objects.filter(pk__in=ids, status__in=ALLOWED[to])
    if claim is not None:
        rows = rows.filter(claim=claim)
    return rows.update(status=to, **fields)


def count_by_status(ids: Sequence[int]) -> dict[str, int]:
    """For tests and logs: how many of `ids` are in each status."""
    counts: dict[str, int] = {}
    for status in Notification.objects.filter(pk__in=ids).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts
