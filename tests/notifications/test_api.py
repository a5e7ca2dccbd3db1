"""POST /api/v1/notifications/receipts/<channel>: shared secret, idempotent."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from swabline.notifications import services
from swabline.notifications.channels.webhook import HEADER, sign
from swabline.notifications.enums import Reason, Status
from swabline.notifications.models import Notification, idempotency_key
from tests.notifications.helpers import notified, rows

URL = "/api/v1/notifications/receipts/sms"
SECRET = "receipt-secret-for-tests"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.NOTIFY_RECEIPT_SECRET = SECRET
    settings.NOTIFY_CHANNELS = ["sms"]


def sent_rows(world, count=2):
    notified(world, "negative", count)
    ids = [n.pk for n in rows()]
    services.transition(ids, Status.SENDING)
    return ids


def post(body, **headers):
    return Client().post(URL, data=body, content_type="application/json", headers=headers)


def test_bearer_receipts_deliver_and_fail(world):
    a, b = sent_rows(world)
    body = json.dumps(
        {
            "receipts": [
                {"id": idempotency_key(a), "status": "DELIVRD"},
                {"id": idempotency_key(b), "status": "failed"},
                {"id": "swb-999-0000", "status": "delivered"},
            ]
        }
    )
    response = post(body, Authorization=f"Bearer {SECRET}")
    assert response.status_code == 200
    assert response.json() == {
        "delivered": 1,
        "failed": 1,
        "ignored": 0,
        "unknown": ["swb-999-0000"],
    }
    assert [(n.status, n.reason) for n in rows()] == [
        (Status.DELIVERED, ""),
        (Status.PERMANENT_FAILURE, Reason.RECEIPT_FAILED),
    ]
    assert Notification.objects.get(pk=a).receipt_at is not None
    # Again: the same answer for the delivered one, nothing changes.
    again = post(body, Authorization=f"Bearer {SECRET}").json()
    assert again["failed"] == 0
    assert [n.status for n in rows()] == [Status.DELIVERED, Status.PERMANENT_FAILURE]


def test_hmac_signed_receipt(world):
    [a] = sent_rows(world, 1)
    body = json.dumps({"id": idempotency_key(a), "status": "delivered"}).encode()
    response = Client().post(
        URL, data=body, content_type="application/json", headers={HEADER: sign(SECRET, body)}
    )
    assert response.status_code == 200
    assert rows()[0].status == Status.DELIVERED


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {HEADER: "t=1,v1=00"}],
)
def test_refused_without_the_secret(world, headers):
    [a] = sent_rows(world, 1)
    body = json.dumps({"id": idempotency_key(a), "status": "delivered"})
    assert post(body, **headers).status_code == 401
    assert rows()[0].status == Status.SENDING


def test_refused_when_no_secret_is_configured(world, settings):
    settings.NOTIFY_RECEIPT_SECRET = ""
    assert post("{}", Authorization="Bearer ").status_code == 401


def test_a_forged_key_names_nothing(world):
    [a] = sent_rows(world, 1)
    forged = f"swb-{a}-{'0' * 20}"
    body = json.dumps({"id": forged, "status": "failed"})
    assert post(body, Authorization=f"Bearer {SECRET}").json()["unknown"] == [forged]
    assert rows()[0].status == Status.SENDING


def test_unknown_channel_and_bad_body(world):
    assert (
        Client()
        .post(
            "/api/v1/notifications/receipts/fax",
            data="{}",
            content_type="application/json",
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        .status_code
        == 404
    )
    assert post("not json", Authorization=f"Bearer {SECRET}").status_code == 422
