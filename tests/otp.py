"""Second-factor helpers for tests: a confirmed authenticator for a user, its
current code (django_otp's own TOTP), and a test client's session marked verified
the way django_otp.login() marks it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from swabline.accounts.models import Assignment


def needs_second_factor(user: Any) -> bool:
    """Like twofactor.requires_two_factor, but read from the database (a test's user
    object must not get grants cached on it behind the test's back)."""
    if not settings.REQUIRE_TWO_FACTOR:
        return False
    return bool(
        user.is_superuser
        or Assignment.objects.filter(user=user, role__in=settings.TWO_FACTOR_ROLES).exists()
    )


def authenticator(user: Any) -> TOTPDevice:
    """The user's confirmed authenticator, made if missing."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return device


def code_for(device: TOTPDevice) -> str:
    """The code the phone shows now, six digits as typed."""
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return str(value).zfill(device.digits)


def verify_session(client: Client, user: Any) -> None:
    """Mark the client's session as verified by `user`'s authenticator."""
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = authenticator(user).persistent_id
    session.save()
