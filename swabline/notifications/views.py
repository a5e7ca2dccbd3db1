"""Staff pages: one person's messages with a Resend button, and the outbox overview."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission
from swabline.audit import services as audit
from swabline.notifications import queries, services
from swabline.notifications.enums import Status
from swabline.people.models import Person


def _require(request: HttpRequest, perm: Permission) -> None:
    if not has_permission(request.user, perm):
        raise PermissionDenied


@login_required
@require_http_methods(["GET", "POST"])
def person(request: HttpRequest, public_id: str) -> HttpResponse:
    """A person's messages (masked recipients, statuses, attempts) and Resend."""
    _require(request, Permission.HELP_CITIZENS)
    subject = get_scoped_or_404(
        Person.objects.select_related("ward"),
        request.user,
        Permission.HELP_CITIZENS,
        public_id=public_id,
        merged_into__isnull=True,
    )
    if request.method == "POST":
        return _resend(request, subject)
    audit.record_view(
        by=request.user,
        action="notifications.person_viewed",
        subject=subject,
        province_code=subject.province_code,
    )
    context: dict[str, Any] = {
        "person": subject,
        "rows": queries.person_messages(subject),
        "client_id": uuid.uuid4(),
    }
    return render(request, "notifications/person.html", context)


def _resend(request: HttpRequest, subject: Person) -> HttpResponse:
    try:
        client_id = uuid.UUID(request.POST.get("client_id", ""))
    except ValueError:
        client_id = uuid.uuid4()
    try:
        written = services.resend(by=request.user, person=subject, client_id=client_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if written:
            messages.success(request, _("The result will be sent again."))
    return redirect("notifications:person", public_id=subject.public_id)


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """Officials: messages by status in their places, and the latest failures."""
    _require(request, Permission.VIEW_OUTCOMES)
    perm = Permission.VIEW_OUTCOMES
    counts = queries.counts_by_status(request.user, perm)
    context = {
        "counts": [(Status(s).label, s, n) for s, n in counts.items()],
        "failures": [
            {"person": n.person, "channel": n.get_channel_display(),
             "reason": n.get_reason_display(), "at": n.last_attempt_at,
             "attempts": n.attempts}
            for n in queries.failures(request.user, perm)
        ],
        "can_help": has_permission(request.user, Permission.HELP_CITIZENS),
    }  # fmt: skip
    return render(request, "notifications/overview.html", context)
