"""HCERT, the EU Digital COVID Certificate's transport: encode, and decode/verify as a
chain of named steps.

Encoding (what we issue)::

    DCC JSON → CWT claims {1: iss, 4: exp, 6: iat, -260: {1: dcc}} (CBOR)
             → COSE_Sign1, ES256, kid in the protected header (CBOR, tag 18)
             → zlib → Base45 → "HC1:" + text

Decoding runs the steps in `STEPS` in order. Each step is a plain function; *any*
exception inside one (a Base45 character out of range, a truncated zlib stream, a
CBOR map where an array belongs…) becomes `Invalid(step)`, so a verifier can say
where a code broke and never crashes on hostile input (TRAPS: a tampered code often
fails at zlib, not at the signature).

Keys: a `TrustedKey` is a Document Signer Certificate (DSC) reduced to what
verification needs. Its kid is the first 8 bytes of SHA-256 over the DER
certificate (DCC spec); its extended key usage limits what it may sign
(`KEY_USAGE_OIDS`).

COSE_Sign1 is built and checked with `cryptography` and `cbor2` directly (pycose
cannot decode with cbor2 ≥ 6, TRAPS).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import base45
import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

PREFIX = "HC1:"
ES256 = -7
PS256 = -37
# COSE header labels and CWT claim keys.
ALG, KID = 1, 4
ISS, EXP, IAT, HCERT = 1, 4, 6, -260
COSE_SIGN1_TAG, CWT_TAG = 18, 61

# Extended key usage OIDs of a DSC: which certificate types it may sign. We issue
# with the first form; verifiers must also accept the early "…4.1.0.1847…" form, which
# real DSCs (and the conformance vectors) carry.
KEY_USAGE_OIDS = {
    "t": "1.3.6.1.4.1.1847.2021.1.1",
    "v": "1.3.6.1.4.1.1847.2021.1.2",
    "r": "1.3.6.1.4.1.1847.2021.1.3",
}
_LEGACY_ROOT, _ROOT = "1.3.6.1.4.1.0.1847.", "1.3.6.1.4.1.1847."
SCHEMA_PATH = Path(__file__).resolve().parent / "dcc-schema" / "DCC.combined-schema.json"


class Step(StrEnum):
    PICTURE = "picture"
    PREFIX = "prefix"
    BASE45 = "base45"
    ZLIB = "zlib"
    COSE = "cose"
    CWT = "cwt"
    KID = "kid"
    SIGNATURE = "signature"
    EXPIRY = "expiry"
    KEY_USAGE = "key_usage"
    SCHEMA = "schema"


STEPS = tuple(Step)

REASONS: dict[Step, Promise] = {
    Step.PICTURE: _("No QR code could be read from the picture."),
    Step.PREFIX: _("This is not a health certificate: the code must start with HC1:."),
    Step.BASE45: _("The code is damaged: it has characters a certificate cannot contain."),
    Step.ZLIB: _("The code is damaged: its content cannot be unpacked."),
    Step.COSE: _("The code is damaged: it is not a signed certificate."),
    Step.CWT: _("The certificate's content cannot be read."),
    Step.KID: _("The certificate was signed with a key we do not know."),
    Step.SIGNATURE: _("The signature is not valid: the certificate was altered or forged."),
    Step.EXPIRY: _("The certificate has expired or is not valid yet."),
    Step.KEY_USAGE: _("The signing key may not sign this kind of certificate."),
    Step.SCHEMA: _("The certificate's content does not follow the EU DCC format."),
}


class Invalid(Exception):
    """The code failed at `step`; `reason` is the translated message for people."""

    def __init__(self, step: Step, detail: str = "") -> None:
        super().__init__(f"{step}: {detail}" if detail else str(step))
        self.step = step
        self.detail = detail

    @property
    def reason(self) -> str:
        return str(REASONS[self.step])


P = ParamSpec("P")
R = TypeVar("R")


def step(name: Step) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Any exception inside the decorated function means "invalid at `name`"."""

    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except Invalid:
                raise
            except Exception as exc:
                raise Invalid(name, f"{type(exc).__name__}: {exc}") from exc

        return run

    return wrap


# --- Keys ---------------------------------------------------------------------------


def kid_of_certificate(der: bytes) -> bytes:
    """The DCC key id: the first 8 bytes of SHA-256 over the DER certificate."""
    return hashlib.sha256(der).digest()[:8]


@dataclass(frozen=True)
class TrustedKey:
    """A DSC's public key, its kid, and the certificate types it may sign (None: any)."""

    kid: bytes
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    key_usage: frozenset[str] | None = None
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None

    @classmethod
    def from_der(cls, der: bytes) -> TrustedKey:
        certificate = x509.load_der_x509_certificate(der)
        public_key = certificate.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise ValueError("unsupported DSC key type")
        return cls(
            kid=kid_of_certificate(der),
            public_key=public_key,
            key_usage=extended_key_usage(certificate),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )


def extended_key_usage(certificate: x509.Certificate) -> frozenset[str] | None:
    """The DCC usage OIDs of a DSC's extended key usage (legacy form normalised);
    None when it names none of them, or carries an empty, unreadable extension."""
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    oids = {oid.dotted_string.replace(_LEGACY_ROOT, _ROOT) for oid in usages}
    found = frozenset(oids) & frozenset(KEY_USAGE_OIDS.values())
    return found or None


# --- Encoding -----------------------------------------------------------------------


def encode(
    dcc: Mapping[str, Any],
    *,
    private_key: ec.EllipticCurvePrivateKey,
    kid: bytes,
    issued_at: dt.datetime,
    expires_at: dt.datetime,
    issuer: str = "VN",
) -> str:
    """The `HC1:` text of `dcc` signed with `private_key` (ES256, P-256)."""
    claims = {
        ISS: issuer,
        IAT: int(issued_at.timestamp()),
        EXP: int(expires_at.timestamp()),
        HCERT: {1: dict(dcc)},
    }
    protected = cbor2.dumps({ALG: ES256, KID: kid})
    payload = cbor2.dumps(claims)
    der = private_key.sign(_to_be_signed(protected, payload), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    cose = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    return PREFIX + base45.b45encode(zlib.compress(cose, 9)).decode("ascii")


def _to_be_signed(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


# --- Decoding, step by step -----------------------------------------------------------


@dataclass(frozen=True)
class Cose:
    protected_bytes: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes


@dataclass(frozen=True)
class Decoded:
    """A code taken apart, not yet trusted."""

    cose: Cose
    claims: dict[Any, Any]
    dcc: dict[str, Any]
    kid: bytes | None

    @property
    def issuer(self) -> str:
        return str(self.claims.get(ISS, ""))

    @property
    def issued_at(self) -> dt.datetime | None:
        return _time(self.claims.get(IAT))

    @property
    def expires_at(self) -> dt.datetime | None:
        return _time(self.claims.get(EXP))


@dataclass(frozen=True)
class Verified:
    decoded: Decoded
    key: TrustedKey
    steps: tuple[Step, ...] = field(default=STEPS[1:])

    @property
    def dcc(self) -> dict[str, Any]:
        return self.decoded.dcc


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return None


@step(Step.PREFIX)
def unprefix(text: str) -> str:
    text = text.strip()
    if not text.startswith(PREFIX):
        raise Invalid(Step.PREFIX, "no HC1: context identifier")
    return text[len(PREFIX) :]


@step(Step.BASE45)
def base45_decode(text: str) -> bytes:
    return base45.b45decode(text)


@step(Step.ZLIB)
def decompress(data: bytes) -> bytes:
    # Strict: the spec requires zlib; an uncompressed COSE is refused (vector Z2).
    return zlib.decompress(data)


@step(Step.COSE)
def parse_cose(data: bytes) -> Cose:
    item = cbor2.loads(data)
    if isinstance(item, cbor2.CBORTag) and item.tag == CWT_TAG:
        item = item.value  # a CWT tag around the COSE_Sign1 tag is allowed
    if isinstance(item, cbor2.CBORTag):
        if item.tag != COSE_SIGN1_TAG:
            raise ValueError(f"unexpected tag {item.tag}")
        item = item.value
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise ValueError("COSE_Sign1 must be an array of four items")
    protected_bytes, unprotected, payload, signature = item
    if not isinstance(protected_bytes, bytes) or not isinstance(payload, bytes):
        raise ValueError("protected header and payload must be byte strings")
    if not isinstance(signature, bytes) or not isinstance(unprotected, dict):
        raise ValueError("bad signature or unprotected header")
    protected = cbor2.loads(protected_bytes) if protected_bytes else {}
    if not isinstance(protected, dict):
        raise ValueError("protected header is not a map")
    return Cose(protected_bytes, protected, unprotected, payload, signature)


@step(Step.CWT)
def parse_cwt(cose: Cose) -> tuple[dict[Any, Any], dict[str, Any]]:
    claims = cbor2.loads(cose.payload)
    if not isinstance(claims, dict):
        raise ValueError("CWT claims are not a map")
    dcc = claims[HCERT][1]
    if not isinstance(dcc, dict):
        raise ValueError("the health certificate is not a map")
    # Must survive a JSON round trip (dates as strings, no byte strings).
    json.dumps(dcc)
    return claims, dcc


def kid_of(cose: Cose) -> bytes | None:
    """The kid of the protected header, else of the unprotected one (DCC spec)."""
    kid = cose.protected.get(KID)
    if kid is None:
        kid = cose.unprotected.get(KID)
    return kid if isinstance(kid, bytes) else None


@step(Step.KID)
def find_key(kid: bytes | None, keys: Mapping[bytes, TrustedKey]) -> TrustedKey:
    if kid is None or kid not in keys:
        raise Invalid(Step.KID, "unknown kid")
    return keys[kid]


@step(Step.SIGNATURE)
def check_signature(cose: Cose, key: TrustedKey) -> None:
    to_be_signed = _to_be_signed(cose.protected_bytes, cose.payload)
    alg = cose.protected.get(ALG, cose.unprotected.get(ALG))
    try:
        if alg == ES256 and isinstance(key.public_key, ec.EllipticCurvePublicKey):
            if len(cose.signature) != 64:
                raise ValueError("an ES256 signature is 64 bytes")
            r = int.from_bytes(cose.signature[:32], "big")
            s = int.from_bytes(cose.signature[32:], "big")
            key.public_key.verify(
                encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA256())
            )
        elif alg == PS256 and isinstance(key.public_key, rsa.RSAPublicKey):
            key.public_key.verify(
                cose.signature,
                to_be_signed,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
                hashes.SHA256(),
            )
        else:
            raise ValueError(f"algorithm {alg!r} does not match the key")
    except InvalidSignature as exc:
        raise Invalid(Step.SIGNATURE, "signature does not verify") from exc


@step(Step.EXPIRY)
def check_expiry(claims: Mapping[Any, Any], clock: dt.datetime) -> None:
    issued, expires = _time(claims.get(IAT)), _time(claims.get(EXP))
    if expires is None:
        raise Invalid(Step.EXPIRY, "no expiry")
    if issued is not None and clock < issued:
        raise Invalid(Step.EXPIRY, "not valid yet")
    if clock > expires:
        raise Invalid(Step.EXPIRY, "expired")


@step(Step.KEY_USAGE)
def check_key_usage(key: TrustedKey, dcc: Mapping[str, Any]) -> None:
    """A DSC that names DCC usages may sign only those certificate types."""
    if key.key_usage is None:
        return
    for kind, oid in KEY_USAGE_OIDS.items():
        if kind in dcc and oid not in key.key_usage:
            raise Invalid(Step.KEY_USAGE, f"DSC may not sign '{kind}'")


@functools.cache
def _validator(path: str) -> Any:
    import jsonschema

    schema = json.loads(Path(path).read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@step(Step.SCHEMA)
def check_schema(dcc: Mapping[str, Any], schema_path: Path = SCHEMA_PATH) -> None:
    errors = sorted(_validator(str(schema_path)).iter_errors(dcc), key=str)
    if errors:
        raise Invalid(Step.SCHEMA, errors[0].message[:200])


def decode(text: str) -> Decoded:
    """Take `text` apart up to the CWT claims; raises `Invalid` at the failing step."""
    cose = parse_cose(decompress(base45_decode(unprefix(text))))
    claims, dcc = parse_cwt(cose)
    return Decoded(cose=cose, claims=claims, dcc=dcc, kid=kid_of(cose))


def verify(
    text: str,
    *,
    keys: Mapping[bytes, TrustedKey],
    clock: dt.datetime,
    schema_path: Path = SCHEMA_PATH,
) -> Verified:
    """Run the whole chain; raises `Invalid` at the first step that fails."""
    decoded = decode(text)
    key = find_key(decoded.kid, keys)
    check_signature(decoded.cose, key)
    check_expiry(decoded.claims, clock)
    check_key_usage(key, decoded.dcc)
    check_schema(decoded.dcc, schema_path)
    return Verified(decoded=decoded, key=key)


def der_of(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.DER)
