"""Reads of the notifications app, scoped to the user."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import scoped
from swabline.notifications.enums import Status
from swabline.notifications.models import Notification
from swabline.people.models import Person

FAILURES_SHOWN = 50


def mask(channel: str, recipient: str) -> str:
    """What staff see of an address: enough to recognise it, not to copy it."""
    if channel == "sms":
        return recipient[:4] + "•" * max(0, len(recipient) - 7) + recipient[-3:]
    if channel == "email":
        local, _at, domain = recipient.partition("@")
        return f"{local[:1]}•••@{domain}"
    return recipient.split("/")[2] if recipient.count("/") >= 2 else recipient


def person_messages(person: Person) -> list[dict[str, Any]]:
    """One person's messages, newest first, with masked recipients (the caller checked
    HELP_CITIZENS on the person)."""
    rows = Notification.objects.filter(person=person).order_by("-created_at", "-id")[:100]
    return [
        {
            "channel": n.get_channel_display(),
            "recipient": mask(n.channel, n.recipient),
            "status": n.status,
            "status_label": n.get_status_display(),
            "reason": n.get_reason_display() if n.reason else "",
            "trigger": n.get_trigger_display(),
            "attempts": n.attempts,
            "created_at": n.created_at,
            "delivered_at": n.delivered_at,
            "last_attempt_at": n.last_attempt_at,
        }
        for n in rows
    ]


def outbox(user: Any, perm: Permission) -> QuerySet[Notification]:
    """The notifications of people in the user's places."""
    return scoped(Notification.objects.all(), user, perm, place_path="person__ward__path")


def counts_by_status(user: Any, perm: Permission) -> dict[str, int]:
    counts = dict(outbox(user, perm).order_by().values_list("status").annotate(n=Count("id")))
    return {s: counts.get(s, 0) for s in Status.values}


def failures(user: Any, perm: Permission) -> QuerySet[Notification]:
    return (
        outbox(user, perm)
        .filter(status=Status.PERMANENT_FAILURE)
        .select_related("person")
        .order_by("-last_attempt_at", "-id")[:FAILURES_SHOWN]
    )
