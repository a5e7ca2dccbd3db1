"""Public pages: self-declaration for a person or a household, and their QR codes.

No login. The result page and the downloads are reached through a signed,
expiring link, so a QR never leads back to someone's data on its own.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from swabline.core.ratelimit import client_ip, hit
from swabline.people import documents, qr
from swabline.people.enums import DeclarationSource
from swabline.people.forms import (
    MAX_MEMBERS,
    HouseholdForm,
    MemberForm,
    MemberFormSet,
    attach_service_errors,
    member_inputs,
)
from swabline.people.models import Person
from swabline.people.services import MembersInvalid, register_household
from swabline.places import queries as place_queries

SIGNING_SALT = "swabline.people.registration"
LINK_MAX_AGE = 7 * 24 * 3600


def sign_people(people: list[Person]) -> str:
    return signing.dumps([p.public_id for p in people], salt=SIGNING_SALT, compress=True)


def people_from_link(token: str) -> list[Person]:
    try:
        ids = signing.loads(token, salt=SIGNING_SALT, max_age=LINK_MAX_AGE)
    except signing.BadSignature as exc:
        raise Http404 from exc
    found = {
        p.public_id: p for p in Person.objects.filter(public_id__in=ids, merged_into__isnull=True)
    }
    return [found[i] for i in ids if i in found]


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    """One person, or a household on one screen; each member gets a QR."""
    household = HouseholdForm(request.POST or None, prefix="h")
    members = MemberFormSet(request.POST or None, prefix="m")
    limited = False
    if request.method == "POST" and household.is_valid() and members.is_valid():
        if not hit(
            f"register:{client_ip(request)}",
            limit=settings.REGISTRATION_RATE_LIMIT,
            window_seconds=3600,
        ):
            limited = True
        else:
            try:
                registrations = register_household(
                    members=member_inputs(household, members),
                    by=None,
                    source=DeclarationSource.SELF,
                )
            except MembersInvalid as exc:
                attach_service_errors(exc, household, members)
            else:
                return redirect(
                    "register-done", token=sign_people([r.person for r in registrations])
                )
    return render(
        request,
        "people/register.html",
        {
            "household": household,
            "members": members,
            "limited": limited,
            **ward_picker(request, household),
        },
        status=429 if limited else 200,
    )


def ward_picker(request: HttpRequest, household: HouseholdForm) -> dict[str, object]:
    """What the ward picker shows when the form comes back: the chosen ward, or matches."""
    query = request.POST.get("h-ward_q", "").strip()
    chosen = (
        household.cleaned_data.get("ward")
        if household.is_bound and not household.has_error("ward")
        else None
    )
    if chosen is not None:
        wards = [chosen]
    else:
        wards = list(place_queries.search(query, limit=30)) if len(query) >= 2 else []
    return {
        "ward_query": query,
        "ward_list": wards,
        "ward_code": chosen.code if chosen is not None else "",
        "max_members": MAX_MEMBERS,
    }


@require_GET
def member_row(request: HttpRequest) -> HttpResponse:
    """One more empty member row (htmx), and the formset's new total."""
    try:
        index = max(0, min(int(request.GET.get("index", "1")), MAX_MEMBERS - 1))
    except ValueError:
        index = 1
    form = MemberForm(prefix=f"m-{index}")
    return render(
        request, "people/_member_row.html", {"form": form, "index": index, "total": index + 1}
    )


@require_GET
def ward_options(request: HttpRequest) -> HttpResponse:
    """Wards whose name matches what was typed, diacritics optional (htmx)."""
    query = request.GET.get("h-ward_q", request.GET.get("q", ""))
    wards = list(place_queries.search(query, limit=30)) if len(query.strip()) >= 2 else []
    return render(request, "people/_ward_options.html", {"wards": wards, "query": query})


@require_GET
def register_done(request: HttpRequest, token: str) -> HttpResponse:
    people = people_from_link(token)
    if not people:
        raise Http404
    cards = [
        {
            "person": p,
            "svg": qr.qr_svg(qr.encode_payload(p), scale=6),
            "link": sign_people([p]),
        }
        for p in people
    ]
    return render(request, "people/register_done.html", {"cards": cards, "token": token})


@require_GET
def qr_png(request: HttpRequest, token: str) -> HttpResponse:
    person = _one(token)
    response = HttpResponse(
        qr.qr_png(qr.encode_payload(person), scale=10), content_type="image/png"
    )
    response["Content-Disposition"] = f'attachment; filename="swabline-{person.code}.png"'
    return response


@require_GET
def card_pdf(request: HttpRequest, token: str) -> HttpResponse:
    person = _one(token)
    response = HttpResponse(documents.person_card_pdf(person), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="swabline-{person.code}.pdf"'
    return response


def _one(token: str) -> Person:
    people = people_from_link(token)
    if len(people) != 1:
        raise Http404(_("This link is not valid."))
    return people[0]
