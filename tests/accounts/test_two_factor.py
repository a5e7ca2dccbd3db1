"""TOTP second factor: enrolment on first login (QR decoded back), the verification
step after the password, backup codes, the administrator's reset, the API token
exchange, and what an unverified session may reach."""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import zxingcpp
from django.core.management import call_command
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from PIL import Image

from swabline.accounts import twofactor
from swabline.audit.models import AuditEvent
from tests.conftest import PASSWORD
from tests.otp import authenticator, code_for

pytestmark = pytest.mark.django_db

EN: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _password_login(username: str) -> Client:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": username, "password": PASSWORD, "next": "/people/"}, **EN
    )
    assert response.status_code == 302
    return client


def _decode_qr(data_uri: str) -> str:
    """Read the page's QR image back with zxing-cpp, as a phone's camera would."""
    header, _, payload = data_uri.partition(",")
    assert header == "data:image/png;base64"
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    results = zxingcpp.read_barcodes(image)
    assert [r.format for r in results] == [zxingcpp.BarcodeFormat.QRCode]
    return str(results[0].text)


def test_an_official_enrols_on_first_login_with_the_qr_code(world):
    client = _password_login("ward_a")
    # The password alone opens nothing: every page leads to enrolment.
    response = client.get("/people/", **EN)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/two-factor/setup/?next=%2Fpeople%2F"

    page = client.get(response["Location"], **EN)
    assert page.status_code == 200
    assert "Set up the second step" in page.content.decode()
    uri = _decode_qr(page.context["qr"])
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc, unquote(parsed.path)) == (
        "otpauth",
        "totp",
        "/Swabline:ward_a",
    )
    device = TOTPDevice.objects.get(user=world.users["ward_a"])
    assert device.confirmed is False
    params = parse_qs(parsed.query)
    assert params["issuer"] == ["Swabline"]
    assert params["secret"][0] == page.context["secret"].replace(" ", "")

    wrong = client.post(page.request["PATH_INFO"], {"code": "000000", "next": "/people/"}, **EN)
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()

    done = client.post(
        "/accounts/two-factor/setup/", {"code": code_for(device), "next": "/people/"}, **EN
    )
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(c) == 10 for c in codes)
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get("/people/", **EN).status_code == 200
    assert AuditEvent.objects.filter(action="two_factor.enrolled").count() == 1


def test_verification_step_after_the_password(world):
    device = authenticator(world.users["province"])
    client = _password_login("province")
    response = client.get("/people/", **EN)
    assert response["Location"] == "/accounts/two-factor/?next=%2Fpeople%2F"
    # The enrolment page is closed to someone enrolled: no second authenticator
    # can be added with the password alone.
    setup = client.get("/accounts/two-factor/setup/", **EN)
    assert setup.status_code == 302
    assert setup["Location"].startswith("/accounts/two-factor/?")
    assert TOTPDevice.objects.filter(user=world.users["province"]).count() == 1

    wrong = client.post("/accounts/two-factor/", {"code": "123456", "next": "/people/"}, **EN)
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()
    assert DEVICE_ID_SESSION_KEY not in client.session
    # Right away even the right code is refused: django-otp throttles after a failure.
    throttled = client.post("/accounts/two-factor/", {"code": code_for(device)}, **EN)
    assert "Too many wrong codes" in throttled.content.decode()
    assert DEVICE_ID_SESSION_KEY not in client.session
    time.sleep(1.1)  # one failure: a one-second wait

    right = client.post(
        "/accounts/two-factor/", {"code": code_for(device), "next": "/people/"}, **EN
    )
    assert (right.status_code, right["Location"]) == (302, "/people/")
    assert client.get("/people/", **EN).status_code == 200


def test_a_used_code_cannot_be_replayed_in_another_session(world):
    device = authenticator(world.users["admin"])
    code = code_for(device)
    first = _password_login("admin")
    assert first.post("/accounts/two-factor/", {"code": code}, **EN).status_code == 302
    second = _password_login("admin")
    again = second.post("/accounts/two-factor/", {"code": code}, **EN)
    assert again.status_code == 200
    assert DEVICE_ID_SESSION_KEY not in second.session


def test_a_backup_code_works_once(world):
    user = world.users["labsupervisor_a"]
    authenticator(user)
    codes = twofactor.new_backup_codes(user=user)
    client = _password_login("labsupervisor_a")
    used = client.post("/accounts/two-factor/", {"code": codes[3].upper()}, **EN)
    assert used.status_code == 302
    assert client.get("/labs/", follow=True, **EN).status_code == 200
    assert StaticToken.objects.filter(device__user=user).count() == 9
    other = _password_login("labsupervisor_a")
    assert other.post("/accounts/two-factor/", {"code": codes[3]}, **EN).status_code == 200
    assert AuditEvent.objects.filter(action="two_factor.backup_code_used").count() == 1


def test_an_offsite_next_is_ignored(world):
    device = authenticator(world.users["ward_b"])
    client = _password_login("ward_b")
    response = client.post(
        "/accounts/two-factor/", {"code": code_for(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_roles_without_second_factor_log_in_with_the_password(world):
    client = _password_login("sampler_a")
    assert client.get("/sites/", **EN).status_code == 200
    # Nothing to do on the second-factor pages: back to where they were going.
    assert client.get("/accounts/two-factor/setup/?next=/sites/")["Location"] == "/sites/"
    assert not TOTPDevice.objects.exists()


def test_the_pages_refuse_anonymous_users(world):
    for path in ("/accounts/two-factor/", "/accounts/two-factor/setup/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_an_unverified_session_is_anonymous_to_the_api(world):
    client = _password_login("admin")
    assert client.get("/api/v1/station/sites").status_code == 401
    verified = world.client_for("admin")
    assert verified.get("/api/v1/station/sites").status_code == 200


def test_admin_reset_unverifies_sessions_and_asks_to_enrol_again(world):
    user = world.users["ward_a"]
    client = world.client_for("ward_a")  # verified, as force_login gives
    assert client.get("/people/", **EN).status_code == 200
    assert twofactor.reset(user=user, by=world.users["admin"], reason="lost phone") is True
    response = client.get("/people/", **EN)
    assert response["Location"] == "/accounts/two-factor/setup/?next=%2Fpeople%2F"
    assert twofactor.reset(user=user, by=world.users["admin"]) is False
    event = AuditEvent.objects.get(action="two_factor.reset")
    assert event.actor_id == world.users["admin"].pk


def test_admin_action_and_command_reset(world, admin_client_verified):
    user = world.users["province"]
    authenticator(user)
    response = admin_client_verified.post(
        "/admin/accounts/user/",
        {"action": "reset_two_factor", "_selected_action": [str(user.pk)]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    authenticator(user)
    out = io.StringIO()
    call_command("reset_two_factor", "province", "--reason", "lost phone", stdout=out)
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="two_factor.reset").count() == 2


@pytest.fixture
def admin_client_verified(world):
    return world.client_for("admin")


def test_the_api_token_needs_the_code_for_those_roles(client, world):
    device = authenticator(world.users["ward_a"])

    def post(payload):
        return client.post(
            "/api/v1/auth/token", json.dumps(payload), content_type="application/json", **EN
        )

    without = post({"username": "ward_a", "password": PASSWORD})
    assert without.status_code == 401
    assert without.json() == {"detail": "This account needs the code from its authenticator (otp)."}
    right = post({"username": "ward_a", "password": PASSWORD, "otp": code_for(device)})
    assert right.status_code == 200
    assert right.json()["scopes"] == ["reports"]
    wrong = post({"username": "ward_a", "password": PASSWORD, "otp": "000000"})
    assert wrong.status_code == 401


def test_turned_off_nobody_is_asked(world, settings):
    settings.REQUIRE_TWO_FACTOR = False
    client = _password_login("admin")
    assert client.get("/people/", **EN).status_code == 200


def test_the_qr_is_a_real_qr_with_the_key(world):
    device = twofactor.start_enrolment(user=world.users["admin"])
    assert twofactor.start_enrolment(user=world.users["admin"]).pk == device.pk
    assert _decode_qr(twofactor.qr_data_uri(device)) == device.config_url
