"""The `/api/v1` JSON API: one NinjaAPI, one router per app."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import django_auth

from swabline.accounts.api import router as accounts_router
from swabline.accounts.auth import ScopeRefused, TokenAuth
from swabline.accounts.enums import ApiScope as S
from swabline.backfill.api import router as backfill_router
from swabline.certificates.api import router as certificates_router
from swabline.dashboard.api import router as dashboard_router
from swabline.interop.api import problem as fhir_problem
from swabline.interop.api import router as interop_router
from swabline.labs.api import router as labs_router
from swabline.lookup.api import router as lookup_router
from swabline.notifications.api import router as notifications_router
from swabline.people.api import router as people_router
from swabline.places.api import router as places_router
from swabline.reports.api import router as reports_router
from swabline.results.api import router as results_router
from swabline.sampling.api import router as station_router
from swabline.shipping.api import router as shipping_router

api = NinjaAPI(
    title="Swabline API",
    version="1",
    urls_namespace="api-v1",
    auth=TokenAuth(),
    description="Registration, sampling, lab and result services. Token auth: "
    "POST /api/v1/auth/token, then `Authorization: Bearer <token>`.",
)
# Operations anyone may call without a token. Everything else in the schema must
# answer 401 to an anonymous caller (tests/test_url_access.py).
PUBLIC_OPERATIONS = frozenset(
    {
        ("post", "/api/v1/auth/token"),
        ("get", "/api/v1/places"),
        ("post", "/api/v1/registrations"),
        ("post", "/api/v1/certificates/verify"),
        # Gateways' delivery receipts: no user token, a shared secret (checked inside).
        ("post", "/api/v1/notifications/receipts/{channel}"),
        ("post", "/api/v1/lookup"),
    }
)

# Each router names the token scopes that open it (docs/security.md, "Stolen API
# token"); operations marked auth=None stay public, and the station router also takes
# the station web app's session. A router mounted without scopes fails
# tests/accounts/test_scopes.py::test_every_router_declares_its_scopes.
ROUTER_SCOPES: dict[str, tuple[str, ...]] = {
    "/auth": (),  # /me and revoking work with any valid token
    "/places": (S.STATION, S.LAB, S.PARTNER, S.REPORTS),
    "": (S.STATION, S.PARTNER, S.REPORTS),  # people
    "/station": (S.STATION, S.REPORTS),  # officials follow tubes and sites
    "/shipments": (S.STATION, S.LAB),
    "/labs": (S.LAB,),
    "/results": (S.LAB,),
    "/lookup": (S.REPORTS,),
    "/notifications": (S.REPORTS,),
    "/certificates": (S.REPORTS,),
    "/fhir": (S.PARTNER, S.REPORTS),  # partners, and staff who may export data
    "/backfill": (S.STATION,),
    "/dashboard": (S.REPORTS,),
    "/reports": (S.REPORTS,),
}
_ROUTERS = [
    ("/auth", accounts_router),
    ("/places", places_router),
    ("", people_router),
    ("/station", station_router),
    ("/shipments", shipping_router),
    ("/labs", labs_router),
    ("/results", results_router),
    ("/lookup", lookup_router),
    ("/notifications", notifications_router),
    ("/certificates", certificates_router),
    ("/fhir", interop_router),
    ("/backfill", backfill_router),
    ("/dashboard", dashboard_router),
    ("/reports", reports_router),
]
for _prefix, _router in _ROUTERS:
    _auth: list[Any] = [TokenAuth(*ROUTER_SCOPES[_prefix])]
    if _router is station_router:
        _auth.append(django_auth)
    api.add_router(_prefix, _router, auth=_auth)


@api.exception_handler(AuthenticationError)
def unauthorized(request: HttpRequest, exc: Exception) -> HttpResponse:
    from django.utils.translation import gettext as _

    return api.create_response(request, {"detail": _("Authentication required.")}, status=401)


@api.exception_handler(ScopeRefused)
def scope_refused(request: HttpRequest, exc: Exception) -> HttpResponse:
    if request.path.startswith("/api/v1/fhir/"):
        return fhir_problem(403, "forbidden", str(exc))
    return api.create_response(request, {"detail": str(exc)}, status=403)


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    from django.utils.translation import gettext as _

    return api.create_response(
        request, {"detail": _("The request is not valid."), "errors": exc.errors}, status=422
    )
