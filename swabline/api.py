"""The `/api/v1` JSON API: one NinjaAPI, one router per app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from swabline.accounts.api import router as accounts_router
from swabline.accounts.auth import TokenAuth
from swabline.backfill.api import router as backfill_router
from swabline.certificates.api import router as certificates_router
from swabline.dashboard.api import router as dashboard_router
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

api.add_router("/auth", accounts_router)
api.add_router("/places", places_router)
api.add_router("", people_router)
api.add_router("/station", station_router)
api.add_router("/shipments", shipping_router)
api.add_router("/labs", labs_router)
api.add_router("/results", results_router)
api.add_router("/lookup", lookup_router)
api.add_router("/notifications", notifications_router)
api.add_router("/certificates", certificates_router)
api.add_router("/fhir", interop_router)
api.add_router("/backfill", backfill_router)
api.add_router("/dashboard", dashboard_router)
api.add_router("/reports", reports_router)


@api.exception_handler(AuthenticationError)
def unauthorized(request: HttpRequest, exc: Exception) -> HttpResponse:
    from django.utils.translation import gettext as _

    return api.create_response(request, {"detail": _("Authentication required.")}, status=401)


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    from django.utils.translation import gettext as _

    return api.create_response(
        request, {"detail": _("The request is not valid."), "errors": exc.errors}, status=422
    )
