"""Every EU DCC conformance vector gets the answer its EXPECTEDRESULTS demand.

The vectors live outside the project (`../shared/conformance/dcc-testdata/`, see
its README); each file is one test. Payloads are compared after decoding (CBOR map
order is undefined), transport stages (Base45 output, zlib output) as bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
import zxingcpp
from PIL import Image

from swabline.certificates import hcert
from swabline.certificates.hcert import Invalid, Step

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT.parent / "shared" / "conformance"
TESTDATA = CONFORMANCE / "dcc-testdata"
SCHEMA = CONFORMANCE / "dcc-schema" / "DCC.combined-schema.json"
VECTORS = sorted(TESTDATA.rglob("*.json")) if TESTDATA.is_dir() else []

# Which of our steps each expectation covers: a `false` must fail at one of them.
EXPECTATION_STEPS: dict[str, tuple[Step, ...]] = {
    "EXPECTEDPICTUREDECODE": (Step.PICTURE,),
    "EXPECTEDUNPREFIX": (Step.PREFIX,),
    "EXPECTEDB45DECODE": (Step.BASE45,),
    "EXPECTEDCOMPRESSION": (Step.ZLIB,),
    "EXPECTEDDECODE": (Step.COSE, Step.CWT),
    "EXPECTEDVALIDJSON": (Step.CWT,),
    "EXPECTEDVALIDOBJECT": (Step.CWT,),
    "EXPECTEDVERIFY": (Step.COSE, Step.KID, Step.SIGNATURE),
    "EXPECTEDEXPIRATIONCHECK": (Step.EXPIRY,),
    "EXPECTEDKEYUSAGE": (Step.KEY_USAGE,),
    "EXPECTEDSCHEMAVALIDATION": (Step.SCHEMA,),
}


def test_the_vectors_are_there() -> None:
    """A missing directory is a failure, not a silent pass of zero tests."""
    assert TESTDATA.is_dir(), f"conformance data missing: {TESTDATA}"
    assert SCHEMA.is_file(), f"DCC schema missing: {SCHEMA}"
    assert len(VECTORS) >= 40


def test_our_schema_copy_is_the_shared_one() -> None:
    """The app ships the schema for production; it must not drift from the reference."""
    assert json.loads(hcert.SCHEMA_PATH.read_text()) == json.loads(SCHEMA.read_text())


def _clock(text: str) -> dt.datetime:
    clock = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return clock if clock.tzinfo else clock.replace(tzinfo=dt.UTC)


class Run:
    """The chain run once over a vector; each expectation reads what it needs."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        context = data["TESTCTX"]
        self.clock = _clock(context["VALIDATIONCLOCK"])
        self.keys: dict[bytes, hcert.TrustedKey] = {}
        if context.get("CERTIFICATE"):
            key = hcert.TrustedKey.from_der(base64.b64decode(context["CERTIFICATE"]))
            self.keys[key.kid] = key
        self.decoded: hcert.Decoded | None = None
        self.decode_failure: Invalid | None = None
        self.verify_failure: Invalid | None = None
        try:
            self.decoded = hcert.decode(data["PREFIX"])
        except Invalid as exc:
            self.decode_failure = self.verify_failure = exc
            return
        try:
            self.key = hcert.find_key(self.decoded.kid, self.keys)
            hcert.check_signature(self.decoded.cose, self.key)
        except Invalid as exc:
            self.verify_failure = exc

    def outcome(self, name: str) -> Invalid | None:
        """None when the step(s) of `name` pass, else the failure."""
        if name == "EXPECTEDPICTUREDECODE":
            return self._picture()
        if name in ("EXPECTEDUNPREFIX", "EXPECTEDB45DECODE", "EXPECTEDCOMPRESSION"):
            return self._transport(name)
        if name in ("EXPECTEDDECODE", "EXPECTEDVALIDJSON", "EXPECTEDVALIDOBJECT"):
            if self.decode_failure is None:
                self._compare_payloads()
            return self.decode_failure
        if name == "EXPECTEDVERIFY":
            return self.verify_failure
        assert self.decoded is not None, f"{name} needs a decodable code: {self.decode_failure}"
        try:
            if name == "EXPECTEDEXPIRATIONCHECK":
                hcert.check_expiry(self.decoded.claims, self.clock)
            elif name == "EXPECTEDKEYUSAGE":
                assert self.verify_failure is None, self.verify_failure
                hcert.check_key_usage(self.key, self.decoded.dcc)
            elif name == "EXPECTEDSCHEMAVALIDATION":
                hcert.check_schema(self.decoded.dcc, SCHEMA)
            else:
                raise AssertionError(f"an expectation this test does not know: {name}")
        except Invalid as exc:
            return exc
        return None

    def _picture(self) -> Invalid | None:
        if "2DCODE" not in self.data:
            return None  # B1 expects a readable picture but ships none: nothing to read
        try:
            image = Image.open(io.BytesIO(base64.b64decode(self.data["2DCODE"])))
            found = [b.text for b in zxingcpp.read_barcodes(image)]
            if self.data["PREFIX"] not in found:
                raise ValueError(f"read {found!r}")
        except Exception as exc:
            return Invalid(Step.PICTURE, str(exc))
        return None

    def _transport(self, name: str) -> Invalid | None:
        """Each stage on its own, its output compared with the vector's."""
        data = self.data
        try:
            if name == "EXPECTEDUNPREFIX":
                out: Any = hcert.unprefix(data["PREFIX"])
                expected = data.get("BASE45")
            elif name == "EXPECTEDB45DECODE":
                out = hcert.base45_decode(data["BASE45"])
                expected = bytes.fromhex(data["COMPRESSED"]) if "COMPRESSED" in data else None
            else:
                out = hcert.decompress(bytes.fromhex(data["COMPRESSED"]))
                expected = bytes.fromhex(data["COSE"]) if "COSE" in data else None
        except Invalid as exc:
            return exc
        if expected is not None:
            assert out == expected, f"{name}: output differs from the vector's"
        return None

    def _compare_payloads(self) -> None:
        assert self.decoded is not None
        if "JSON" in self.data:
            assert self.decoded.dcc == self.data["JSON"]
        if "CBOR" in self.data:
            cbor = cbor2.loads(bytes.fromhex(self.data["CBOR"]))
            assert cbor in (self.decoded.dcc, self.decoded.claims)


@pytest.mark.parametrize(
    "path", VECTORS, ids=[str(p.relative_to(TESTDATA)) if VECTORS else "" for p in VECTORS]
)
def test_vector(path: Path) -> None:
    data = json.loads(path.read_text())
    expected: dict[str, bool] = data["EXPECTEDRESULTS"]
    assert expected, "a vector without expectations tests nothing"
    run = Run(data)
    for name, want in expected.items():
        failure = run.outcome(name)
        if want:
            assert failure is None, f"{name} should pass, failed at {failure}"
        else:
            assert failure is not None, f"{name} should fail, passed"
            assert failure.step in EXPECTATION_STEPS[name], (
                f"{name} should fail at {EXPECTATION_STEPS[name]}, failed at {failure}"
            )
            assert failure.reason  # a translated message for people
