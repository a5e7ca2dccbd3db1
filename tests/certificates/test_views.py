"""The PDF (who may download it, and its QR verifies), keys.json, /verify and the API."""

from __future__ import annotations

import base64
import json

import pytest
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from swabline.certificates import hcert, keys, services
from swabline.certificates.models import Certificate
from swabline.lookup import session
from tests.certificates.helpers import outcome_of, qr_texts_of_pdf

pytestmark = pytest.mark.django_db


def url(outcome) -> str:
    return f"/certificates/{outcome.pk}.pdf"


def granted_client(*person_ids: int) -> Client:
    client = Client()
    response = HttpResponse()
    session.grant(response, person_ids)
    client.cookies.update(response.cookies)
    return client


def test_a_looked_up_person_downloads_a_pdf_whose_qr_verifies(world):
    outcome = outcome_of(world, full_name="Đỗ Thị Hà")
    response = granted_client(outcome.person_id).get(url(outcome))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    [text] = qr_texts_of_pdf(response.content)
    verified = hcert.verify(text, keys=keys.trusted(), clock=timezone.now())
    assert verified.dcc["nam"]["fn"] == "Đỗ"
    assert text == Certificate.objects.get(outcome=outcome).hcert
    # Downloading again gives the same certificate.
    again = granted_client(outcome.person_id).get(url(outcome))
    assert qr_texts_of_pdf(again.content) == [text]


def test_the_qr_is_an_embedded_png_image(world):
    outcome = outcome_of(world)
    pdf = granted_client(outcome.person_id).get(url(outcome)).content
    import pypdfium2
    import pypdfium2.raw as raw
    import zxingcpp

    page = pypdfium2.PdfDocument(pdf)[0]
    images = list(page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE]))
    assert len(images) == 1
    [barcode] = zxingcpp.read_barcodes(images[0].get_bitmap().to_pil())
    assert barcode.text.startswith("HC1:")


@pytest.mark.parametrize("who", ["province", "ward_a", "dataentry_a", "admin"])
def test_staff_at_the_persons_place_may_download(world, who):
    outcome = outcome_of(world)
    assert world.client_for(who).get(url(outcome)).status_code == 200


@pytest.mark.parametrize("who", ["ward_b", "sampler_a", "labtech_a", "courier_a", "nobody"])
def test_wrong_role_or_wrong_place_is_refused(world, who):
    outcome = outcome_of(world)
    assert world.client_for(who).get(url(outcome)).status_code == 404


def test_another_persons_grant_and_no_grant_are_refused(world):
    outcome = outcome_of(world)
    other = outcome_of(world)
    assert granted_client(other.person_id).get(url(outcome)).status_code == 404
    assert Client().get(url(outcome)).status_code == 404


def test_a_superseded_outcome_keeps_its_certificate_and_says_a_newer_result_exists(world):
    outcome = outcome_of(world)
    first = services.issue(outcome=outcome)
    outcome.current = False
    outcome.superseded_at = timezone.now()
    outcome.save(update_fields=["current", "superseded_at"])
    response = granted_client(outcome.person_id).get(url(outcome))
    assert response.status_code == 200
    assert qr_texts_of_pdf(response.content) == [first.hcert]
    import pypdfium2

    text = pypdfium2.PdfDocument(response.content)[0].get_textpage().get_text_range()
    assert "A newer result exists" in text
    api = Client().post(
        "/api/v1/certificates/verify", {"hcert": first.hcert}, content_type="application/json"
    )
    assert api.json()["valid"] is True
    assert api.json()["newer_result"] is True


def test_keys_json_publishes_the_signing_keys(world):
    certificate = services.issue(outcome=outcome_of(world))
    response = Client().get("/certificates/keys.json")
    assert response.status_code == 200
    assert "public" in response["Cache-Control"]
    [entry] = response.json()["keys"]
    der = base64.b64decode(entry["certificate"])
    assert base64.b64decode(entry["kid"]) == hcert.kid_of_certificate(der)
    assert base64.b64decode(entry["kid"]).hex() == certificate.kid
    assert entry["jwk"]["kty"] == "EC" and entry["jwk"]["crv"] == "P-256"
    assert entry["key_usage"] == [hcert.KEY_USAGE_OIDS["t"]]
    assert "private" not in json.dumps(entry).lower()


def test_the_verify_page_and_its_worker_are_public(world):
    client = Client()
    page = client.get("/verify")
    assert page.status_code == 200
    assert "'wasm-unsafe-eval'" in page["Content-Security-Policy"]
    worker = client.get("/verify-sw.js")
    assert worker.status_code == 200
    assert "/certificates/keys.json" in worker.content.decode()


def test_the_api_verifies_with_reasons(world):
    text = services.issue(outcome=outcome_of(world)).hcert
    client = Client()

    def check(code: str) -> dict:
        response = client.post(
            "/api/v1/certificates/verify",
            {"hcert": code},
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="en",
        )
        assert response.status_code == 200
        return response.json()

    good = check(text)
    assert good["valid"] is True and good["certificate"]["t"][0]["tr"] == "260415000"
    assert good["newer_result"] is False
    bad = check("HC2:" + text[4:])
    assert (bad["valid"], bad["step"]) == (False, "prefix")
    assert bad["reason"]
    forged = check(text[:-10] + "0000000000")
    assert forged["valid"] is False
