"""POST /api/v1/certificates/verify: the server's verifier, for partners (public)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema

from swabline.certificates import hcert, keys
from swabline.certificates.models import Certificate

router = Router(tags=["certificates"])


class VerifyIn(Schema):
    hcert: str = Field(..., max_length=8000, description="The QR text, starting with HC1:")


class VerifyOut(Schema):
    valid: bool
    step: str | None = Field(None, description="Where an invalid code failed")
    reason: str | None = Field(None, description="Why, in the request's language")
    certificate: dict[str, Any] | None = Field(None, description="The DCC payload when valid")
    issued_at: str | None = None
    expires_at: str | None = None
    newer_result: bool = Field(False, description="We issued it, and a newer result exists")


@router.post("/verify", auth=None, response=VerifyOut, operation_id="verify_certificate")
def verify(request: HttpRequest, payload: VerifyIn) -> VerifyOut:
    """Run the whole chain (Base45, zlib, COSE, CWT, key, signature, expiry, key usage,
    DCC schema) against our published keys, now."""
    try:
        verified = hcert.verify(payload.hcert, keys=keys.trusted(), clock=timezone.now())
    except hcert.Invalid as exc:
        return VerifyOut(
            valid=False,
            step=str(exc.step),
            reason=exc.reason,
            certificate=None,
            issued_at=None,
            expires_at=None,
            newer_result=False,
        )
    decoded = verified.decoded
    uvci = _uvci(verified.dcc)
    issued = Certificate.objects.filter(uvci=uvci).select_related("outcome").first()
    return VerifyOut(
        valid=True,
        step=None,
        reason=None,
        certificate=verified.dcc,
        issued_at=decoded.issued_at.isoformat() if decoded.issued_at else None,
        expires_at=decoded.expires_at.isoformat() if decoded.expires_at else None,
        newer_result=bool(issued and not issued.outcome.current),
    )


def _uvci(dcc: dict[str, Any]) -> str:
    for kind in ("t", "v", "r"):
        entries = dcc.get(kind) or []
        if entries and isinstance(entries[0], dict):
            return str(entries[0].get("ci", ""))
    return ""
