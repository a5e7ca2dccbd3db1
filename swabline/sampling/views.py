"""The sampling station: an installable offline web app for samplers at their sites.

The page is a shell: station.js does the work in the browser and talks to the
`/api/v1/station/*` endpoints. The service worker (`/station/sw.js`, scope
`/station/`) caches the page and every file it needs, so the station starts and
keeps scanning without a network (DESIGN §8, §10).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission
from swabline.campaigns.enums import TestType
from swabline.campaigns.models import Site
from swabline.sampling import queries

SCOPE = "/station/"
# Everything the station needs to start and scan offline, relative to STATIC_URL.
SHELL_STATIC = (
    "css/app.css",
    "img/icon.svg",
    "vendor/htmx/htmx.min.js",
    "station/station.css",
    "station/station.js",
    "station/manifest.webmanifest",
    "station/icon.svg",
    "station/icon-192.png",
    "station/icon-512.png",
    "vendor/barcode-detector/ponyfill.iife.js",
    "vendor/zxing-wasm/zxing_reader.wasm",
    "vendor/jsqr/jsQR.js",
)
_INDIVIDUAL = {TestType.RT_PCR_INDIVIDUAL, TestType.RAPID_ANTIGEN}


def _capture_sites(user: Any) -> list[Site]:
    return list(queries.capture_sites(user).select_related("campaign__sampling_settings"))


def _site_json(site: Site) -> dict[str, Any]:
    campaign = site.campaign
    try:
        label_pattern = campaign.sampling_settings.label_pattern
    except ObjectDoesNotExist:
        label_pattern = ""
    return {
        "public_id": str(site.public_id),
        "name": site.name,
        "ward": site.ward.name,
        "campaign": campaign.name,
        "campaign_id": str(campaign.public_id),
        "pool_limit": campaign.pool_size_limit,
        "kind": "individual" if campaign.test_type in _INDIVIDUAL else "pool",
        "label_pattern": label_pattern,
    }


@login_required
@require_GET
def station(request: HttpRequest) -> HttpResponse:
    """The station page; `?site=<public_id>` preselects a site the user captures at."""
    if not has_permission(request.user, Permission.CAPTURE_SAMPLES):
        raise PermissionDenied
    sites = _capture_sites(request.user)
    wanted = request.GET.get("site", "")
    if wanted and wanted not in {str(s.public_id) for s in sites}:
        raise PermissionDenied
    config = {
        "user": request.user.get_username(),
        "sites": [_site_json(s) for s in sites],
        "preselect": wanted,
        "csrf_cookie": settings.CSRF_COOKIE_NAME,
        "login": f"{reverse('login')}?next={SCOPE}",
        "urls": {
            "events": reverse("api-v1:station_events"),
            "people": reverse("api-v1:station_register"),
            "sw": reverse("sampling:service-worker"),
            "scope": SCOPE,
            "ponyfill": static("vendor/barcode-detector/ponyfill.iife.js"),
            "wasm": static("vendor/zxing-wasm/zxing_reader.wasm"),
            "jsqr": static("vendor/jsqr/jsQR.js"),
        },
    }
    response = render(
        request,
        "sampling/station.html",
        {"config": config, "strings": station_strings(), "sites": config["sites"]},
    )
    response.headers["Content-Security-Policy"] = station_csp()
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def station_csp() -> str:
    """The site's policy, plus WebAssembly compilation (which CSP counts as eval) for
    the zxing barcode reader. Only this page gets it; the middleware keeps a header a
    view has set."""
    return settings.CSP_POLICY.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")


@login_required
@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, with the shell's URLs and a version that changes with them."""
    if not has_permission(request.user, Permission.CAPTURE_SAMPLES):
        raise PermissionDenied
    shell = [SCOPE, *(static(path) for path in SHELL_STATIC)]
    template = get_template("sampling/sw.js")
    settings_json = json.dumps({"version": _shell_version(shell, template), "shell": shell})
    body = template.render({"settings_json": settings_json})
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response.headers["Service-Worker-Allowed"] = SCOPE
    response.headers["Cache-Control"] = "no-cache"
    return response


def _shell_version(shell: list[str], template: Any) -> str:
    """Changes whenever a shell file or the worker changes, so installed stations update.

    In production the static URLs carry content hashes; in development the size and
    modification time of each source file stand in for them.
    """
    digest = hashlib.sha256("\n".join(shell).encode())
    digest.update(template.template.source.encode())
    for path in SHELL_STATIC:
        found = finders.find(path)
        if isinstance(found, str):
            stat = os.stat(found)
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def station_strings() -> dict[str, str]:
    """Messages station.js shows, translated for the page's language."""
    return {
        "pool": _("Pool"),
        "individual": _("Individual"),
        "online": _("Online"),
        "offline": _("Offline: scans are kept on this device"),
        "no_tube": _("Scan a tube label to start"),
        "tube_opened": _("Tube {code} opened"),
        "scan_people": _("Now scan the people for this tube."),
        "close_first": _("Tube {code} is still open. Close it before starting another tube."),
        "scan_tube_first": _("Scan a tube label first."),
        "tube_closed": _("Tube {code} closed with {count} people."),
        "tube_full": _("Tube full and closed. Scan the next tube label."),
        "tube_voided": _("Tube {code} voided."),
        "removed": _("Removed from the tube: {name}"),
        "nothing_to_remove": _("There is nobody in this tube to remove."),
        "empty_tube": _("This tube is empty: void it instead of closing it."),
        "added": _("Added to tube {code}"),
        "added_offline": _("Added to tube {code}. Offline: the name is shown from the code."),
        "duplicate_in_tube": _("{name} is already in this tube. Nothing changed."),
        "already_sampled": _("Already sampled in this campaign (tube {code})."),
        "override_hint": _("Sample again only for a recall or a recollection."),
        "override": _("Sample again"),
        "skip": _("Skip"),
        "unknown_scan": _("This code is not recognised. Scan again or type the person code."),
        "bad_tube": _("A tube label has 12 digits. Scan the label again."),
        "bad_tube_check": _(
            "This tube label was misread (its check digit is wrong). Scan it again."
        ),
        "bad_qr": _("This QR code is damaged or incomplete. Scan it again."),
        "bad_cccd": _("This CCCD QR cannot be read. Scan it again."),
        "keyboard": _(
            "The scanner typed through Vietnamese input (Telex or VNI). "
            "Turn Vietnamese typing off on this computer and scan again."
        ),
        "camera_denied": _("The camera cannot be opened. Allow the camera, or type the code."),
        "camera_insecure": _("The camera needs a secure (https) address."),
        "camera_starting": _("Starting the camera…"),
        "registering": _("Registering {name}…"),
        "registration_failed": _("Registration failed: {message}"),
        "need_name_birth_sex": _("Fill in the name, the date or year of birth and the sex."),
        "sync_auth": _("Log in again to send the waiting scans."),
        "log_in": _("Log in"),
        "sync_error": _("The server did not accept the scans. They are kept and sent again."),
        "conflict": _("Needs attention"),
        "other_user": _("{count} scans by another user are waiting on this device."),
        "void_reason_needed": _("Give a reason for voiding the tube."),
        "status_pending": _("waiting to send"),
        "status_done": _("sent"),
        "status_conflict": _("needs attention"),
        "status_duplicate": _("already in this tube"),
        "registered_person": _("Quick registration"),
    }


@login_required
def site_status(request: HttpRequest) -> HttpResponse:
    """For ward and province officials: each site's tubes, people, conflicts and devices."""
    if not has_permission(request.user, Permission.VIEW_SITES):
        raise PermissionDenied
    from swabline.campaigns.enums import CampaignStatus
    from swabline.campaigns.models import Campaign

    campaigns = []
    for campaign in Campaign.objects.filter(status=CampaignStatus.ACTIVE).order_by("-starts_on"):
        sites = queries.site_overview(request.user, campaign)
        if sites:
            campaigns.append((campaign, sites))
    return render(request, "sampling/site_status.html", {"campaigns": campaigns})
