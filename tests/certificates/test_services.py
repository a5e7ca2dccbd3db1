"""Issuing: the DCC test entry, names, dates, UVCI, keys, and the same chain back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from swabline.audit.models import AuditEvent
from swabline.campaigns import enums as campaign_enums
from swabline.certificates import dcc, hcert, keys, services
from swabline.certificates.enums import KeyStatus
from swabline.certificates.models import Certificate, SigningKey
from swabline.results.enums import OutcomeState
from tests.certificates.helpers import outcome_of, year_only
from tests.certificates.test_conformance import SCHEMA

pytestmark = pytest.mark.django_db


def verified(certificate: Certificate) -> hcert.Verified:
    return hcert.verify(
        certificate.hcert, keys=keys.trusted(), clock=timezone.now(), schema_path=SCHEMA
    )


def test_a_negative_rt_pcr_result_gives_a_valid_signed_certificate(world):
    outcome = outcome_of(world, full_name="Nguyễn Văn An", birth_date=dt.date(1990, 3, 9))
    certificate = services.issue(outcome=outcome)
    payload = verified(certificate).dcc
    hcert.check_schema(payload, SCHEMA)
    test = payload["t"][0]
    assert payload["ver"] == "1.3.0"
    assert payload["nam"] == {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Văn An", "gnt": "VAN<AN"}
    assert payload["dob"] == "1990-03-09"
    sample = outcome.sample
    assert test == {
        "tg": "840539006",
        "tt": "LP6464-4",
        "sc": sample.collected_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tr": "260415000",
        "tc": world.lab_a.name,
        "co": "VN",
        "is": "Trung tâm Kiểm soát Bệnh tật (Swabline)",
        "ci": certificate.uvci,
    }
    assert dcc.uvci_is_well_formed(certificate.uvci)
    assert certificate.uvci.startswith("URN:UVCI:01:VN:")
    decoded = hcert.decode(certificate.hcert)
    assert decoded.issuer == "VN"
    assert decoded.kid == bytes.fromhex(certificate.kid)
    assert AuditEvent.objects.filter(action="certificates.issued").count() == 1


def test_positive_year_only_birth_and_a_name_with_d_stroke(world):
    outcome = year_only(world, "positive", full_name="Đặng Thị Ngọc Ánh")
    payload = verified(services.issue(outcome=outcome)).dcc
    assert payload["dob"] == "1962"
    assert payload["nam"] == {
        "fn": "Đặng",
        "fnt": "DANG",
        "gn": "Thị Ngọc Ánh",
        "gnt": "THI<NGOC<ANH",
    }
    assert payload["t"][0]["tr"] == "260373001"
    hcert.check_schema(payload, SCHEMA)


def test_rapid_antigen_names_the_device_and_the_site(world, settings):
    world.campaign.test_type = campaign_enums.TestType.RAPID_ANTIGEN
    world.campaign.save(update_fields=["test_type"])
    settings.CERTIFICATE_RAT_DEVICE = "1268"
    outcome = outcome_of(world)
    test = verified(services.issue(outcome=outcome)).dcc["t"][0]
    assert (test["tt"], test["ma"], test["tc"]) == ("LP217198-3", "1268", world.site_a.name)


def test_a_second_download_is_the_same_certificate(world):
    outcome = outcome_of(world)
    first = services.issue(outcome=outcome)
    second = services.issue(outcome=outcome)
    assert (second.pk, second.uvci, second.hcert) == (first.pk, first.uvci, first.hcert)
    assert Certificate.objects.count() == 1


def test_recall_and_superseded_outcomes_get_no_new_certificate(world):
    outcome = outcome_of(world)
    outcome.state = OutcomeState.RECALL
    with pytest.raises(ValidationError):
        services.issue(outcome=outcome)
    outcome.state = OutcomeState.NEGATIVE
    outcome.current = False
    with pytest.raises(ValidationError):
        services.issue(outcome=outcome)


def test_the_first_issue_makes_the_signing_key(world):
    assert not SigningKey.objects.exists()
    certificate = services.issue(outcome=outcome_of(world))
    [key] = SigningKey.objects.all()
    assert (key.status, key.kid) == (KeyStatus.ACTIVE, certificate.kid)
    assert b"PRIVATE" not in bytes(key.private_key)  # stored encrypted
    assert (
        keys.private_key(key).public_key()
        == hcert.TrustedKey.from_der(bytes(key.certificate)).public_key
    )


def test_rotation_keeps_old_certificates_valid_and_retiring_ends_them(world):
    old = services.issue(outcome=outcome_of(world))
    new_key = keys.rotate()
    new = services.issue(outcome=outcome_of(world))
    assert new.kid == new_key.kid != old.kid
    assert verified(old) and verified(new)
    keys.retire(old.kid)
    with pytest.raises(hcert.Invalid) as caught:
        verified(old)
    assert caught.value.step == hcert.Step.KID
    assert verified(new)


def test_a_tampered_certificate_is_invalid(world):
    text = services.issue(outcome=outcome_of(world)).hcert
    for tampered in (text[:-4] + "AAAA", text.replace("HC1:", "HC2:"), text[:60]):
        with pytest.raises(hcert.Invalid):
            hcert.verify(tampered, keys=keys.trusted(), clock=timezone.now())


def test_the_dsc_allows_test_certificates_only(world):
    key = keys.signer()
    trusted = hcert.TrustedKey.from_der(bytes(key.certificate))
    assert trusted.key_usage == frozenset({hcert.KEY_USAGE_OIDS["t"]})
    with pytest.raises(hcert.Invalid) as caught:
        hcert.check_key_usage(trusted, {"v": [{}]})
    assert caught.value.step == hcert.Step.KEY_USAGE


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Đỗ Đức Ước", "DO<DUC<UOC"),
        ("Ông-Bà  Ẩn", "ONG<BA<AN"),
        ("Musterfrau-Gößinger", "MUSTERFRAU<GOESSINGER"),
        ("Nguyễn", "NGUYEN"),
    ],
)
def test_icao_transliteration(name, expected):
    assert dcc.icao(name) == expected


def test_uvci_checksum_catches_a_changed_character():
    uvci = dcc.new_uvci()
    assert dcc.uvci_is_well_formed(uvci)
    head, check = uvci.split("#")
    changed = head[:-1] + ("3" if head[-1] != "3" else "4")
    assert not dcc.uvci_is_well_formed(f"{changed}#{check}")


def test_the_management_command_generates_rotates_retires_and_lists(world):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("certificate_keys", "generate", stdout=out)
    first = SigningKey.objects.get()
    assert first.status == KeyStatus.ACTIVE
    call_command("certificate_keys", "generate", stdout=out)  # an extra, not signing
    assert SigningKey.objects.filter(status=KeyStatus.ACTIVE).get() == first
    call_command("certificate_keys", "rotate", stdout=out)
    first.refresh_from_db()
    assert first.status == KeyStatus.PUBLISHED
    assert len(keys.published()) == 3
    call_command("certificate_keys", "retire", first.kid, stdout=out)
    assert len(keys.published()) == 2
    call_command("certificate_keys", "list", stdout=out)
    assert f"{first.kid}  retired" in out.getvalue()
