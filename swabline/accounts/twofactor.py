"""Second factor for officials, lab supervisors and admins: TOTP (django-otp) with
one-time backup codes (otp_static).

A session is verified the way django-otp does it: `django_otp.login(request,
device)` keeps the device's persistent id in the session, and `OTPMiddleware`
reloads that device on every request, so deleting a user's devices (`reset`)
un-verifies every session of theirs at once. `TwoFactorMiddleware` sends an
unverified session of a user who needs the second factor to enrol or to verify.
"""

from __future__ import annotations

import secrets
from typing import Any

import segno
from django.conf import settings
from django.db import transaction
from django_otp import devices_for_user, user_has_device
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from swabline.accounts.models import User
from swabline.accounts.permissions import grants
from swabline.audit import services as audit

BACKUP_CODES = 10
# Backup codes: lower-case letters and digits without look-alikes (0/o, 1/l/i).
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_TOTP_NAME = "authenticator"
_BACKUP_NAME = "backup"


class EnrolmentError(ValueError):
    """Enrolment cannot go on (already enrolled, or the code is wrong)."""


def requires_two_factor(user: Any) -> bool:
    """Whether `user` must pass a second factor: superusers and holders of a role in
    TWO_FACTOR_ROLES, while REQUIRE_TWO_FACTOR is on. Uses the grants cached on the
    user object (the views ask for them anyway)."""
    if not settings.REQUIRE_TWO_FACTOR or not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    roles = set(settings.TWO_FACTOR_ROLES)
    return any(g.role in roles for g in grants(user))


def is_verified(user: Any) -> bool:
    """Set by django-otp's middleware: a confirmed device of this user verified the session."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def has_authenticator(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def start_enrolment(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator `user` is enrolling (made on the first call, the
    same one on later calls, so reloading the page keeps the QR code)."""
    if has_authenticator(user):
        raise EnrolmentError("already enrolled")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_TOTP_NAME, confirmed=False)
    return device


def qr_data_uri(device: TOTPDevice) -> str:
    """The otpauth:// URL as a PNG QR code in a data: URI (the CSP allows data:
    images; nothing is fetched or stored). A real QR, never a Micro QR."""
    uri: str = segno.make_qr(device.config_url, error="m").png_data_uri(scale=6, border=4)
    return uri


def secret_text(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app by hand."""
    from base64 import b32encode

    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


@transaction.atomic
def confirm_enrolment(*, user: User, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm `user`'s pending authenticator with a code it shows; make fresh backup
    codes. Returns the device and the codes (shown once). Audited."""
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(user=user, confirmed=False)
        .order_by("id")
        .first()
    )
    if device is None or has_authenticator(user):
        raise EnrolmentError("nothing to confirm")
    if not device.verify_token(_clean(code)):
        raise EnrolmentError("wrong code")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    codes = _replace_backup_codes(user)
    audit.record(by=user, action="two_factor.enrolled", subject=user)
    return device, codes


@transaction.atomic
def new_backup_codes(*, user: User) -> list[str]:
    """Replace `user`'s backup codes (the old ones stop working). Audited."""
    codes = _replace_backup_codes(user)
    audit.record(by=user, action="two_factor.backup_codes_renewed", subject=user)
    return codes


def _replace_backup_codes(user: User) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=_BACKUP_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [
        "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10)) for _ in range(BACKUP_CODES)
    ]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def verify(*, user: User, code: str) -> Device | None:
    """The confirmed device that accepts `code` (the authenticator's current code or
    an unused backup code, which is used up), or None. django-otp throttles each
    device after failures and refuses a TOTP code already used."""
    code = _clean(code)
    if not code:
        return None
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if device.verify_token(code):
                if isinstance(device, StaticDevice):
                    audit.record(
                        by=user,
                        action="two_factor.backup_code_used",
                        subject=user,
                        left=device.token_set.count(),
                    )
                return device
    return None


def throttled(user: User) -> bool:
    """Whether recent wrong codes make django-otp refuse every code for a while
    (the wait doubles with each failure)."""
    return any(not d.verify_is_allowed()[0] for d in devices_for_user(user, confirmed=True))


@transaction.atomic
def reset(*, user: User, by: User | None, reason: str = "") -> bool:
    """Remove every second-factor device of `user` (a lost phone): their sessions stop
    being verified at once and their next login enrols again. Audited; False if there
    was nothing to remove."""
    had = user_has_device(user, confirmed=None)
    for model in (TOTPDevice, StaticDevice):
        model.objects.filter(user=user).delete()
    if had:
        audit.record(by=by, action="two_factor.reset", subject=user, reason=reason[:200])
    return had


def _clean(code: str) -> str:
    return "".join(code.split()).lower()[:32]
