"""/verify in Chromium: our certificate (pasted, and as a picture of the PDF) is
valid, a tampered one and bad conformance vectors are not, the browser verifier
agrees with the server's, and the page works offline after its first load."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client
from playwright.sync_api import expect

from swabline.certificates import hcert, keys
from swabline.lookup import session
from tests.certificates.helpers import outcome_of, qr_png_of_pdf, qr_texts_of_pdf
from tests.certificates.test_conformance import SCHEMA, TESTDATA, _clock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# EC-signed vectors (the browser verifies ES256 only, as we issue) across the steps.
VECTORS = [
    "DE/2DCode/raw/2.json",
    "common/2DCode/raw/CO3.json",
    "common/2DCode/raw/CO5.json",
    "common/2DCode/raw/CO16.json",
    "common/2DCode/raw/CO17.json",
    "common/2DCode/raw/CO8.json",
    "common/2DCode/raw/CO12.json",
    "common/2DCode/raw/CO22.json",
    "common/2DCode/raw/CO23.json",
    "common/2DCode/raw/CO28.json",
    "common/2DCode/raw/CBO1.json",
    "common/2DCode/raw/CBO2.json",
    "common/2DCode/raw/B1.json",
    "common/2DCode/raw/H2.json",
    "common/2DCode/raw/Z1.json",
    "common/2DCode/raw/Z2.json",
]


def certificate_pdf(world: Any) -> tuple[str, bytes]:
    outcome = outcome_of(world, full_name="Đặng Thị Ngọc Ánh")
    client = Client()
    response = HttpResponse()
    session.grant(response, [outcome.person_id])
    client.cookies.update(response.cookies)
    pdf = client.get(f"/certificates/{outcome.pk}.pdf").content
    [text] = qr_texts_of_pdf(pdf)
    return text, pdf


def open_verify(page: Any) -> None:
    page.goto("/verify")
    page.wait_for_selector("[data-verify][data-ready=true]")


def check_text(page: Any, text: str) -> Any:
    page.get_by_test_id("text").fill(text)
    page.get_by_test_id("check-text").click()
    verdict = page.get_by_test_id("verdict")
    page.wait_for_selector("[data-testid=verdict]:not([data-state=checking])")
    return verdict


def test_our_certificate_is_valid_pasted_and_as_a_picture(phone_page, world, tmp_path):
    text, pdf = certificate_pdf(world)
    page = phone_page
    open_verify(page)

    verdict = check_text(page, text)
    assert verdict.get_attribute("data-state") == "valid"
    # Wording comes from the catalogue (folded by the lead); assert the data.
    assert page.get_by_test_id("verdict-title").inner_text()
    details = page.get_by_test_id("details").inner_text()
    assert "Đặng Thị Ngọc Ánh" in details
    assert "URN:UVCI:01:VN:" in details

    picture = Path(tmp_path) / "certificate.png"
    picture.write_bytes(qr_png_of_pdf(pdf))
    page.get_by_test_id("text").fill("")
    page.get_by_test_id("file").set_input_files(str(picture))
    # The text box fills from the picture, then the verdict follows (no string
    # predicates: the page's CSP forbids eval, which wait_for_function would use).
    expect(page.get_by_test_id("text")).to_have_value(text, timeout=20_000)
    page.wait_for_selector("[data-testid=verdict][data-state=valid]")

    tampered = text[:-8] + "ABCDEFGH"
    verdict = check_text(page, tampered)
    assert verdict.get_attribute("data-state") == "invalid"
    assert page.get_by_test_id("reason").inner_text()

    verdict = check_text(page, "HC2:" + text[4:])
    assert verdict.get_attribute("data-state") == "invalid"
    assert page.get_by_test_id("reason").get_attribute("data-step") == "prefix"


def js_key(der: bytes) -> dict[str, Any]:
    usage = hcert.extended_key_usage(
        __import__("cryptography.x509", fromlist=["x"]).load_der_x509_certificate(der)
    )
    return {
        "kid": base64.b64encode(hcert.kid_of_certificate(der)).decode(),
        "jwk": keys.jwk(der),
        "key_usage": sorted(usage or []),
    }


def server_answer(data: dict[str, Any]) -> tuple[bool, str | None]:
    context = data["TESTCTX"]
    trusted = hcert.TrustedKey.from_der(base64.b64decode(context["CERTIFICATE"]))
    try:
        hcert.verify(
            data["PREFIX"],
            keys={trusted.kid: trusted},
            clock=_clock(context["VALIDATIONCLOCK"]),
            schema_path=SCHEMA,
        )
    except hcert.Invalid as exc:
        return False, str(exc.step)
    return True, None


def test_conformance_vectors_agree_in_the_browser(phone_page, world):
    page = phone_page
    open_verify(page)
    for name in VECTORS:
        data = json.loads((TESTDATA / name).read_text())
        context = data["TESTCTX"]
        clock_ms = _clock(context["VALIDATIONCLOCK"]).timestamp() * 1000
        key = js_key(base64.b64decode(context["CERTIFICATE"]))
        answer = page.evaluate(
            "([text, key, ms]) => window.swablineVerify.verify(text, "
            "{keys: [key], clock: new Date(ms)})",
            [data["PREFIX"], key, clock_ms],
        )
        browser = (answer["valid"], answer.get("step"))
        assert browser == server_answer(data), (name, answer)

    # Through the page too: a bad vector is refused with its reason.
    data = json.loads((TESTDATA / "common/2DCode/raw/Z1.json").read_text())
    check_text(page, data["PREFIX"])
    assert page.get_by_test_id("verdict").get_attribute("data-state") == "invalid"
    assert page.get_by_test_id("reason").get_attribute("data-step") == "zlib"


def test_the_page_works_offline_after_first_load(phone_page, world):
    text, _ = certificate_pdf(world)
    page = phone_page
    open_verify(page)
    page.wait_for_selector("[data-verify][data-offline-ready=true]")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.context.set_offline(True)
    try:
        page.reload()
        page.wait_for_selector("[data-verify][data-ready=true]")
        verdict = check_text(page, text)
        assert verdict.get_attribute("data-state") == "valid"
    finally:
        page.context.set_offline(False)
