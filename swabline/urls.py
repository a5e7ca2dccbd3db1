from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from swabline.api import api
from swabline.core import views as core_views

urlpatterns = [
    # First: the JSON API carries the hot requests (a station's every scan, the
    # citizens' look-ups), and Django tries these patterns in order.
    path("api/v1/", api.urls),
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("accounts/", include("swabline.accounts.urls")),
    path("places/", include("swabline.places.urls")),
    path("sites/", include("swabline.campaigns.urls")),
    path("station/", include("swabline.sampling.urls")),
    path("labs/", include("swabline.labs.urls")),
    path("shipments/", include("swabline.shipping.urls")),
    path("results/", include("swabline.results.urls")),
    path("people/", include("swabline.people.urls")),
    path("register/", include("swabline.people.public_urls")),
    path("lookup/", include("swabline.lookup.urls")),
    path("notifications/", include("swabline.notifications.urls")),
    path("", include("swabline.certificates.urls")),
    path("backfill/", include("swabline.backfill.urls")),
    path("dashboard/", include("swabline.dashboard.urls")),
    path("reports/", include("swabline.reports.urls")),
    path("admin/", admin.site.urls),
]

# URL names that anyone may open without logging in. Everything else must refuse an
# anonymous user; tests/test_urls_access.py walks the URL conf and checks both lists.
PUBLIC_URL_NAMES = frozenset(
    {
        "healthz",
        "set_language",
        "login",
        "logout",
        "admin:login",
        "register",
        "register-member-row",
        "register-wards",
        "register-done",
        "register-qr-png",
        "register-card-pdf",
        "certificates:keys",
        "certificates:verify",
        "certificates:service-worker",
        "lookup:form",
        "lookup:result",
        "lookup:slip",
        "lookup:forget",
        "api-v1:api-root",
        "api-v1:openapi-json",
        "api-v1:openapi-view",
    }
)
# The JSON API is checked per operation (method + path) from its OpenAPI schema,
# since one URL can carry a public and a private method; see swabline/api.py.

# A request Django will not read (a body or form over the limits, a bad host): a
# translated page, or JSON under /api/ (tests/security/test_input_attacks.py).
handler400 = "swabline.core.views.bad_request"
