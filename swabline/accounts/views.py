"""The second-factor steps after the password: enrol an authenticator, or verify."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from swabline.accounts import twofactor
from swabline.accounts.forms import CodeForm
from swabline.accounts.models import User


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _done(request: HttpRequest) -> HttpResponse | None:
    """Where to go instead when there is nothing to do here."""
    user = request.user
    if not twofactor.requires_two_factor(user) or twofactor.is_verified(user):
        return HttpResponseRedirect(_next(request))
    return None


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Second step of logging in: a code from the authenticator or a backup code."""
    if (done := _done(request)) is not None:
        return done
    user: User = request.user  # type: ignore[assignment]
    if not twofactor.has_authenticator(user):
        return _step("two_factor_setup", request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if twofactor.throttled(user):
            form.add_error(
                "code", _("Too many wrong codes. Wait a little, then type the newest code.")
            )
        elif (device := twofactor.verify(user=user, code=form.cleaned_data["code"])) is not None:
            otp_login(request, device)
            return HttpResponseRedirect(_next(request))
        else:
            form.add_error(
                "code", _("That code is not right. Try the newest code, or a backup code.")
            )
    return render(
        request, "registration/two_factor_verify.html", {"form": form, "next": _next(request)}
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """First login of someone who needs a second factor: scan the QR, type a code,
    get backup codes (shown once)."""
    if (done := _done(request)) is not None:
        return done
    user: User = request.user  # type: ignore[assignment]
    if twofactor.has_authenticator(user):
        return _step("two_factor_verify", request)
    device = twofactor.start_enrolment(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            confirmed, codes = twofactor.confirm_enrolment(
                user=user, code=form.cleaned_data["code"]
            )
        except twofactor.EnrolmentError:
            form.add_error(
                "code",
                _("That code is not right. Check the phone's clock and try the newest code."),
            )
        else:
            otp_login(request, confirmed)
            return render(
                request,
                "registration/two_factor_backup_codes.html",
                {"codes": codes, "next": _next(request)},
            )
    context = {
        "form": form,
        "qr": twofactor.qr_data_uri(device),
        "secret": twofactor.secret_text(device),
        "next": _next(request),
    }
    return render(request, "registration/two_factor_setup.html", context)


def _step(name: str, request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(f"{reverse(name)}?{urlencode({'next': _next(request)})}")
