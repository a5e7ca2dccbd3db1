"""The certificate PDF, the published keys, and the public /verify page.

/verify checks codes in the browser (static/certificates/verify.js: Base45, zlib,
CBOR, P-256 ECDSA, all vendored) against /certificates/keys.json, and a service
worker (/verify-sw.js, scope /verify) keeps the page, its scripts and the keys for
offline use (DESIGN §8).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from swabline.audit.services import record_view
from swabline.certificates import documents, hcert, keys, queries, services
from swabline.lookup.session import granted

VERIFY_PAGE = "/verify"
# What the verifier needs offline, relative to STATIC_URL.
VERIFY_STATIC = (
    "css/app.css",
    "img/icon.svg",
    "vendor/htmx/htmx.min.js",
    "certificates/verify.css",
    "certificates/verify.js",
    "certificates/hcert.js",
    "certificates/p256.js",
    "vendor/cbor-x/cbor-x.min.js",
    "vendor/pako/pako_inflate.min.js",
    "vendor/barcode-detector/ponyfill.iife.js",
    "vendor/zxing-wasm/zxing_reader.wasm",
)
# ES modules the P-256 verifier imports (by relative path, unhashed: see _import_map).
NOBLE_MODULES = (
    "vendor/noble-curves/abstract/weierstrass.js",
    "vendor/noble-curves/abstract/curve.js",
    "vendor/noble-curves/abstract/der.js",
    "vendor/noble-curves/abstract/modular.js",
    "vendor/noble-curves/utils.js",
    "vendor/noble-hashes/sha2.js",
    "vendor/noble-hashes/_md.js",
    "vendor/noble-hashes/_u64.js",
    "vendor/noble-hashes/utils.js",
    "vendor/noble-hashes/hmac.js",
)


@require_GET
def certificate_pdf(request: HttpRequest, outcome_id: int) -> HttpResponse:
    """The person's certificate: for the browser their look-up let in, or for staff
    who may see outcomes or help citizens at the person's place."""
    outcome = queries.outcome_for_certificate(request.user, granted(request), outcome_id)
    if outcome is None:
        raise Http404
    if outcome.person_id not in granted(request):
        # Staff, not the person's own look-up: audited before anything is issued or sent.
        record_view(
            by=request.user,
            action="certificates.downloaded_by_staff",
            subject=outcome.person,
            province_code=outcome.person.province_code,
            outcome=outcome.pk,
        )
    try:
        certificate = services.issue(outcome=outcome, by=_user(request))
    except ValidationError as exc:
        raise Http404(exc.messages[0]) from exc
    decoded = hcert.decode(certificate.hcert)
    body = documents.certificate_pdf(
        hcert_text=certificate.hcert,
        dcc=decoded.dcc,
        issued=_local(certificate.issued_at),
        expires=_local(certificate.expires_at),
        newer_result=queries.newer_result_exists(outcome),
    )
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="certificate-{outcome.pk}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


def _user(request: HttpRequest) -> Any:
    return request.user if request.user.is_authenticated else None


def _local(moment: Any) -> str:
    return str(timezone.localtime(moment).strftime("%d/%m/%Y %H:%M"))


@require_GET
@cache_control(public=True, max_age=600)
def keys_json(request: HttpRequest) -> JsonResponse:
    """The published signing keys (public, cacheable; verifiers keep a copy)."""
    response = JsonResponse(keys.published_json())
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _import_map() -> str:
    """Maps the bare `@noble/hashes/` specifiers inside noble-curves to our copy."""
    return json.dumps(
        {"imports": {"@noble/hashes/": f"{settings.STATIC_URL}vendor/noble-hashes/"}},
        separators=(",", ":"),
    )


def verify_csp(import_map: str) -> str:
    """The site's policy plus this page's import map (by hash) and WebAssembly for
    the zxing reader."""
    digest = base64.b64encode(hashlib.sha256(import_map.encode()).digest()).decode()
    return settings.CSP_POLICY.replace(
        "script-src 'self'", f"script-src 'self' 'wasm-unsafe-eval' 'sha256-{digest}'"
    )


@require_GET
def verify_page(request: HttpRequest) -> HttpResponse:
    import_map = _import_map()
    context = {
        "import_map": import_map,
        "strings_json": json.dumps(verify_strings(), ensure_ascii=False),
        "urls_json": json.dumps(
            {
                "keys": reverse("certificates:keys"),
                "sw": reverse("certificates:service-worker"),
                "scope": VERIFY_PAGE,
                "api": "/api/v1/certificates/verify",
                "ponyfill": static("vendor/barcode-detector/ponyfill.iife.js"),
                "wasm": static("vendor/zxing-wasm/zxing_reader.wasm"),
            }
        ),
    }
    response = render(request, "certificates/verify.html", context)
    response["Content-Security-Policy"] = verify_csp(import_map)
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    shell = [
        VERIFY_PAGE,
        reverse("certificates:keys"),
        *(static(path) for path in VERIFY_STATIC),
        *(f"{settings.STATIC_URL}{path}" for path in NOBLE_MODULES),
    ]
    template = get_template("certificates/sw.js")
    settings_json = json.dumps(
        {"version": _version(shell, template), "shell": shell, "keys": shell[1]}
    )
    body = template.render({"settings_json": settings_json})
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


def _version(shell: list[str], template: Any) -> str:
    digest = hashlib.sha256("\n".join(shell).encode())
    digest.update(template.template.source.encode())
    for path in (*VERIFY_STATIC, *NOBLE_MODULES):
        found = finders.find(path)
        if isinstance(found, str):
            stat = os.stat(found)
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def verify_strings() -> dict[str, str]:
    """What verify.js says, in the page's language (rendered into the page)."""
    reasons = {f"step_{step}": str(reason) for step, reason in hcert.REASONS.items()}
    return reasons | {
        "valid": _("Valid certificate"),
        "invalid": _("Not valid"),
        "checking": _("Checking…"),
        "offline_ready": _("This page also works offline now."),
        "camera_insecure": _("The camera needs a secure (https) connection."),
        "camera_denied": _("The camera could not be opened."),
        "camera_starting": _("Starting the camera…"),
        "no_keys": _("The list of signing keys could not be loaded."),
        "name": _("Name"),
        "dob": _("Date of birth"),
        "test": _("Test"),
        "result": _("Result"),
        "sampled": _("Sample collected"),
        "issuer": _("Issuer"),
        "uvci": _("Certificate ID"),
        "expires": _("Valid until"),
        "negative": _("Negative (not detected)"),
        "positive": _("Positive (detected)"),
        "naat": _("RT-PCR"),
        "rat": _("Rapid antigen test"),
    }
