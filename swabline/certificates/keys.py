"""Signing keys: generation, rotation, encryption at rest, and the published list.

Decision 0007: private keys live in the database, encrypted (Fernet: AES-128-CBC
and HMAC-SHA256) with a key derived by HKDF-SHA256 from
`CERTIFICATE_KEY_SECRET` (default: `SECRET_KEY`). A database dump alone does not
give the signing key; rotating that secret needs `certificate_keys rotate` first.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools

from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from swabline.audit.services import record
from swabline.certificates import hcert
from swabline.certificates.enums import KeyStatus
from swabline.certificates.models import SigningKey


def _fernet() -> Fernet:
    secret = (getattr(settings, "CERTIFICATE_KEY_SECRET", "") or settings.SECRET_KEY).encode()
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"swabline.certificates.keys"
    ).derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))


def _dsc(private_key: ec.EllipticCurvePrivateKey, now: dt.datetime, days: int) -> bytes:
    """A self-signed Document Signer Certificate allowed to sign test certificates."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, settings.CERTIFICATE_COUNTRY),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, settings.CERTIFICATE_ISSUER[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, "Swabline DSC"),
        ]
    )
    test_usage = x509.ObjectIdentifier(hcert.KEY_USAGE_OIDS["t"])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.ExtendedKeyUsage([test_usage]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )
    return hcert.der_of(certificate)


def generate(*, by: object | None = None, activate: bool = False) -> SigningKey:
    """A new P-256 key and DSC; with `activate`, it becomes the signer (the old active
    key stays published). One transaction, audited."""
    now = timezone.now()
    private_key = ec.generate_private_key(ec.SECP256R1())
    der = _dsc(private_key, now, settings.CERTIFICATE_KEY_DAYS)
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certificate = x509.load_der_x509_certificate(der)
    with transaction.atomic():
        if activate:
            SigningKey.objects.filter(status=KeyStatus.ACTIVE).update(status=KeyStatus.PUBLISHED)
        key = SigningKey.objects.create(
            kid=hcert.kid_of_certificate(der).hex(),
            certificate=der,
            private_key=_fernet().encrypt(pkcs8),
            status=KeyStatus.ACTIVE if activate else KeyStatus.PUBLISHED,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            created_at=now,
        )
        record(by=by, action="certificates.key_generated", subject=key, status=key.status)
    return key


def rotate(*, by: object | None = None) -> SigningKey:
    """A new key becomes the signer; the previous one stays published until it expires."""
    return generate(by=by, activate=True)


def retire(kid: str, *, by: object | None = None) -> SigningKey:
    """Stop publishing a key: certificates it signed no longer verify."""
    with transaction.atomic():
        key = SigningKey.objects.select_for_update().get(kid=kid)
        key.status = KeyStatus.RETIRED
        key.retired_at = timezone.now()
        key.save(update_fields=["status", "retired_at"])
        record(by=by, action="certificates.key_retired", subject=key)
    return key


def signer() -> SigningKey:
    """The active key; the first issue on a fresh install generates one."""
    key = SigningKey.objects.filter(status=KeyStatus.ACTIVE).first()
    if key is not None:
        return key
    try:
        return generate(activate=True)
    except IntegrityError:  # another process made one at the same moment
        return SigningKey.objects.get(status=KeyStatus.ACTIVE)


def private_key(key: SigningKey) -> ec.EllipticCurvePrivateKey:
    loaded = serialization.load_der_private_key(
        _fernet().decrypt(bytes(key.private_key)), password=None
    )
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise TypeError("signing keys are EC P-256")
    return loaded


def published(now: dt.datetime | None = None) -> list[SigningKey]:
    """Keys whose certificates verify: active or published, not past their end."""
    now = now or timezone.now()
    return list(
        SigningKey.objects.filter(
            status__in=[KeyStatus.ACTIVE, KeyStatus.PUBLISHED], not_after__gt=now
        ).order_by("-not_before", "-id")
    )


def trusted(now: dt.datetime | None = None) -> dict[bytes, hcert.TrustedKey]:
    """The trust list the server's verifier uses: our published keys by kid."""
    return {bytes.fromhex(k.kid): _trusted_key(k.kid, bytes(k.certificate)) for k in published(now)}


@functools.lru_cache(maxsize=64)
def _trusted_key(kid: str, der: bytes) -> hcert.TrustedKey:
    return hcert.TrustedKey.from_der(der)


def jwk(der: bytes) -> dict[str, str]:
    """The DSC's public key as a JSON Web Key (EC P-256)."""
    public_key = x509.load_der_x509_certificate(der).public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise TypeError("signing keys are EC P-256")
    numbers = public_key.public_numbers()

    def b64(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()

    return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)}


def published_json(now: dt.datetime | None = None) -> dict[str, object]:
    """The document at /certificates/keys.json."""
    entries = []
    for key in published(now):
        der = bytes(key.certificate)
        usage = hcert.extended_key_usage(x509.load_der_x509_certificate(der))
        entries.append(
            {
                "kid": base64.b64encode(bytes.fromhex(key.kid)).decode(),
                "certificate": base64.b64encode(der).decode(),
                "jwk": jwk(der),
                "key_usage": sorted(usage) if usage else [],
                "not_before": key.not_before.isoformat(),
                "not_after": key.not_after.isoformat(),
                "status": key.status,
            }
        )
    return {"issuer": settings.CERTIFICATE_ISSUER, "keys": entries}
