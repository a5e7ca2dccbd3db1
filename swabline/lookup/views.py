"""The citizen's look-up page, their result and printable slip, and the staff page
that unlocks a look-up.

Citizen pages need no login: the form's POST proves who they are and sets the
signed grant cookie (`session.grant`); the result and the slip read it. Unknown,
wrong and locked answers render the same page with the same message.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import get_scoped_or_404, has_permission
from swabline.core.ratelimit import client_ip
from swabline.lookup import queries, services, session, timeline
from swabline.lookup.forms import LookupForm
from swabline.lookup.services import Verdict
from swabline.people.models import Person
from swabline.people.queries import find_people


@require_http_methods(["GET", "POST"])
def lookup(request: HttpRequest) -> HttpResponse:
    """The form; on a right answer, the grant cookie and a redirect to the result."""
    form = LookupForm(request.POST or None)
    # "Add a household member": the new person joins those already shown, instead
    # of replacing them (a plain look-up replaces, so a shared phone shows no one
    # else's result to the next person).
    add = (request.POST if request.method == "POST" else request.GET).get("add") == "1"
    status, problem = 200, ""
    if request.method == "POST" and form.is_valid():
        identifier, birth = form.identity
        tried = services.attempt(identifier=identifier, birth=birth, client=client_ip(request))
        if tried.verdict == Verdict.GRANTED:
            response = HttpResponseRedirect(reverse("lookup:result"), status=303)
            kept = session.granted(request) if add else frozenset()
            session.grant(response, [*kept, *tried.person_ids])
            return response
        if tried.verdict == Verdict.THROTTLED:
            status = 429
            problem = _(
                "Too many tries from this device. Wait %(minutes)s minutes and try again."
            ) % {"minutes": settings.LOOKUP_CLIENT_WINDOW_MINUTES}
        else:
            problem = _(
                "We found no result for these details. Check the code or number and the "
                "date of birth. After several wrong tries the look-up is locked for a "
                "while; the ward's health staff can help you."
            )
    return render(
        request, "lookup/form.html", {"form": form, "problem": problem, "add": add}, status=status
    )


def _views(request: HttpRequest) -> list[timeline.PersonView]:
    people = queries.people_by_ids(session.granted(request))
    return timeline.build(people, queries.facts(people))


@never_cache
@require_GET
def result(request: HttpRequest) -> HttpResponse:
    """What the grant lets this browser see: each person's outcome and timeline."""
    people = _views(request)
    if not people:
        return redirect("lookup:form")
    return render(request, "lookup/result.html", {"people": people})


@never_cache
@require_GET
def slip(request: HttpRequest) -> HttpResponse:
    """The same, as a one-page slip to print."""
    people = _views(request)
    if not people:
        return redirect("lookup:form")
    return render(request, "lookup/slip.html", {"people": people})


@require_POST
def forget(request: HttpRequest) -> HttpResponse:
    """Close the result on this browser (a shared phone)."""
    response = redirect("lookup:form")
    session.forget(response)
    return response


# --- Staff ----------------------------------------------------------------------


def _notifications_url(person: Person) -> str | None:
    try:
        return reverse("notifications:person", args=[person.public_id])
    except NoReverseMatch:  # the notifications app may not provide the page yet
        return None


@login_required
@require_GET
def staff(request: HttpRequest) -> HttpResponse:
    """Find a person, see whether their look-up is locked, unlock it."""
    if not has_permission(request.user, Permission.HELP_CITIZENS):
        raise PermissionDenied
    q = request.GET.get("q", "").strip()
    people = find_people(request.user, q, perm=Permission.HELP_CITIZENS) if q else []
    locked = queries.lock_states(people)
    rows = [(p, locked[p.pk], _notifications_url(p)) for p in people]
    return render(request, "lookup/staff.html", {"q": q, "rows": rows})


@login_required
@require_POST
def unlock(request: HttpRequest, public_id: str) -> HttpResponse:
    if not has_permission(request.user, Permission.HELP_CITIZENS):
        raise PermissionDenied
    person = get_scoped_or_404(
        Person.objects.select_related("ward").filter(merged_into__isnull=True),
        request.user,
        Permission.HELP_CITIZENS,
        public_id=public_id,
    )
    services.unlock(by=request.user, person=person)
    messages.success(
        request, _("The look-up of %(name)s is unlocked.") % {"name": person.full_name}
    )
    url = reverse("lookup:staff")
    q = request.POST.get("q", "")
    return redirect(f"{url}?{urlencode({'q': q})}" if q else url)
