"""A signing key read straight from the database (a dump, a stolen backup) is of no
use without the secret: the stored bytes hold no form of the private key, do not
load as a key, and do not decrypt under another secret."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.db import connection

from swabline.certificates import hcert, keys

pytestmark = pytest.mark.django_db

SECRET = "the-deployment's-own-certificate-key-secret"


def stored_bytes(kid: str) -> bytes:
    """The private key column as a dump would hold it (raw SQL, no model code)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM certificates_signingkey WHERE kid = %s", [kid])
        [value] = cursor.fetchone()
    return bytes(value)


def fernet_for(secret: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"swabline.certificates.keys"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def forms_of(private: ec.EllipticCurvePrivateKey) -> list[bytes]:
    """Every way the private key could sit in the column in the clear."""
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    pkcs8 = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    sec1 = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return [scalar, scalar.hex().encode(), base64.b64encode(scalar), pkcs8, sec1, pem]


def test_a_stored_signing_key_is_unreadable_without_the_secret(settings):
    settings.CERTIFICATE_KEY_SECRET = SECRET
    key = keys.generate(activate=True)
    stored = stored_bytes(key.kid)
    private = keys.private_key(key)  # with the secret: the real key
    assert private.public_key() == hcert.TrustedKey.from_der(bytes(key.certificate)).public_key

    for clear in forms_of(private):
        assert clear not in stored
        assert clear not in base64.urlsafe_b64decode(stored)  # Fernet's outer base64
    for loader in (serialization.load_der_private_key, serialization.load_pem_private_key):
        with pytest.raises(ValueError):
            loader(stored, password=None)

    # The development default, another deployment's secret, an empty one: all refused.
    for wrong in (settings.SECRET_KEY, SECRET + "x", ""):
        with pytest.raises(InvalidToken):
            fernet_for(wrong).decrypt(stored)
    settings.CERTIFICATE_KEY_SECRET = "another-deployment's-secret"
    with pytest.raises(InvalidToken):
        keys.private_key(key)

    # Only the right secret opens it, and it is that key.
    opened = serialization.load_der_private_key(fernet_for(SECRET).decrypt(stored), password=None)
    assert isinstance(opened, ec.EllipticCurvePrivateKey)
    assert opened.private_numbers() == private.private_numbers()
