"""`/api/v1/notifications`: delivery receipts from SMS/e-mail gateways.

Public in the token sense (gateways hold no user token: listed in
`swabline.api.PUBLIC_OPERATIONS`), but every call must prove the shared secret.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from swabline.notifications import receipts
from swabline.notifications.enums import Channel

router = Router(tags=["notifications"])


class ReceiptsOut(Schema):
    delivered: int
    failed: int
    ignored: int
    unknown: list[str]


class Detail(Schema):
    detail: str


@router.post(
    "/receipts/{channel}",
    auth=None,
    response={200: ReceiptsOut, 401: Detail, 404: Detail, 422: Detail},
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
def post_receipts(request: HttpRequest, channel: str) -> Status:
    """Apply delivery receipts: `{"receipts": [{"id": key, "status": "delivered"|"failed"}]}`.

    Authenticated by `NOTIFY_RECEIPT_SECRET` (Bearer, or an HMAC signature header).
    Idempotent: a receipt applied twice changes nothing.
    """
    if channel not in (Channel.SMS, Channel.EMAIL):
        return Status(404, {"detail": _("Unknown channel.")})
    body = request.body
    if not receipts.authentic(request.headers, body):
        return Status(401, {"detail": _("Authentication required.")})
    items = receipts.parse(body)
    if items is None:
        return Status(422, {"detail": _("The request is not valid.")})
    applied = receipts.apply(channel, items)
    return Status(200, applied.__dict__)
