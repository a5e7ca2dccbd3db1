"""The worker against real local servers: an HTTP gateway, a partner app, an SMTP
server. Statuses, retries with backoff, leases, and the recipient re-check."""

from __future__ import annotations

import base64
import json
import logging
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from swabline.notifications import endpoints
from swabline.notifications.channels.webhook import HEADER, verify
from swabline.notifications.enums import Reason, Status
from swabline.notifications.models import Notification, idempotency_key
from swabline.notifications.worker import Worker, claim
from swabline.people.models import Consent
from tests.notifications.gateway import Gateway
from tests.notifications.helpers import notified, rows
from tests.notifications.test_services import partner_with_endpoint


@pytest.fixture(autouse=True)
def _english(settings):
    # The Vietnamese catalogue is folded in by the lead; tests read the English text.
    settings.NOTIFY_LANGUAGE = "en"


@pytest.fixture
def http_sms(settings):
    settings.NOTIFY_SMS_BACKEND = "http"
    settings.NOTIFY_THREADS = 4
    settings.NOTIFY_HTTP_TIMEOUT = 1
    settings.NOTIFY_RETRY_BASE_SECONDS = 30
    settings.NOTIFY_CHANNELS = ["sms"]
    with Gateway() as gateway:
        settings.NOTIFY_SMS_URL = gateway.url
        yield gateway


def drain(**kw):
    worker = Worker()
    try:
        return worker.run(until_idle=True, **kw)
    finally:
        worker.close()


def make_due():
    Notification.objects.update(next_attempt_at=timezone.now())


def test_console_delivers_and_logs_no_personal_data(world, settings, capsys, caplog):
    settings.NOTIFY_CHANNELS = ["sms"]
    settings.PUBLIC_BASE_URL = "https://kq.example.vn"
    members = notified(world, "negative", 2)
    caplog.set_level(logging.INFO, logger="swabline.notifications")
    assert drain() == 2
    assert {n.status for n in rows()} == {Status.DELIVERED}
    out = capsys.readouterr().out
    for p in members:
        assert p.phone in out and p.display_code in out
    assert "https://kq.example.vn/lookup/" in out
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "notifications.batch" in logged
    for p in members:
        assert p.phone not in logged and p.code not in logged and p.full_name not in logged


def test_sms_gateway_gets_the_template_headers_and_vietnamese_text(world, settings, http_sms):
    settings.NOTIFY_SMS_AUTH_HEADER = "Bearer gw-token"
    settings.NOTIFY_SMS_TEMPLATE = '{"to": "{to}", "msg": "{text}", "ref": "{key}"}'
    [person] = notified(world, "negative", 1)
    drain()
    [seen] = http_sms.requests
    [row] = rows()
    body = seen.json()
    assert body["to"] == person.phone
    assert body["ref"] == idempotency_key(row.pk) == seen.headers["Idempotency-Key"]
    assert seen.headers["Authorization"] == "Bearer gw-token"
    assert person.display_code in body["msg"] and "NEGATIVE" in body["msg"]
    assert row.status == Status.DELIVERED and row.attempts == 1


def test_ascii_form_posts_with_basic_auth(world, settings, http_sms):
    settings.NOTIFY_SMS_ASCII = True
    settings.NOTIFY_SMS_FORMAT = "form"
    settings.NOTIFY_SMS_BASIC_AUTH = "user:pass"
    notified(world, "positive", 1)  # a pool: recall
    drain()
    [seen] = http_sms.requests
    from urllib.parse import parse_qs

    text = parse_qs(seen.body.decode())["text"][0]
    assert text.isascii() and "tested again" in text
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"user:pass").decode()


def test_server_error_is_retried_with_backoff_then_delivered(world, http_sms):
    http_sms.plan = lambda key, nth: 500 if nth == 1 else 200
    notified(world, "negative", 2)
    started = timezone.now()
    drain()
    for row in rows():
        assert (row.status, row.attempts, row.reason) == (
            Status.TEMPORARY_FAILURE,
            1,
            Reason.GATEWAY_ERROR,
        )
        # base 30 s, equal jitter: between 15 and 30 s later
        assert timedelta(seconds=14) <= row.next_attempt_at - started <= timedelta(seconds=31)
    assert drain() == 0  # not due yet
    make_due()
    drain()
    assert [(r.status, r.attempts) for r in rows()] == [(Status.DELIVERED, 2)] * 2
    assert set(http_sms.attempts.values()) == {2}
    assert set(http_sms.sent.values()) == {1}


def test_timeout_is_temporary(world, http_sms):
    http_sms.plan = lambda key, nth: "timeout" if nth == 1 else 200
    http_sms.stall = 1.5
    notified(world, "negative", 1)
    drain()
    [row] = rows()
    assert (row.status, row.reason) == (Status.TEMPORARY_FAILURE, Reason.UNREACHABLE)
    make_due()
    drain()
    assert rows()[0].status == Status.DELIVERED


def test_unreachable_gateway_is_temporary(world, settings, http_sms):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.NOTIFY_SMS_URL = f"http://127.0.0.1:{s.getsockname()[1]}/send"
    notified(world, "negative", 1)
    drain()
    assert rows()[0].reason == Reason.UNREACHABLE


def test_client_error_is_permanent(world, http_sms):
    http_sms.plan = lambda key, nth: 400
    notified(world, "negative", 1)
    drain()
    [row] = rows()
    assert (row.status, row.reason) == (Status.PERMANENT_FAILURE, Reason.REJECTED)
    make_due()
    assert drain() == 0


def test_gives_up_after_max_attempts(world, settings, http_sms):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    http_sms.plan = lambda key, nth: 503
    notified(world, "negative", 1)
    drain()
    make_due()
    drain()
    [row] = rows()
    assert (row.status, row.attempts, row.reason) == (
        Status.PERMANENT_FAILURE,
        2,
        Reason.TOO_MANY_ATTEMPTS,
    )


def test_a_changed_phone_never_gets_the_result(world, http_sms):
    [person] = notified(world, "negative", 1)
    person.phone = "+84912999888"
    person.save()
    drain()
    [row] = rows()
    assert (row.status, row.reason) == (Status.PERMANENT_FAILURE, Reason.RECIPIENT_CHANGED)
    assert http_sms.requests == []


def test_an_expired_lease_is_reclaimed_with_the_same_key(world, http_sms):
    notified(world, "negative", 1)
    _token, [pk] = claim(10, 60)  # a worker that then died
    assert claim(10, 60)[1] == []  # leased: nobody else takes it
    Notification.objects.filter(pk=pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    drain()
    row = Notification.objects.get(pk=pk)
    assert (row.status, row.attempts) == (Status.DELIVERED, 2)
    assert http_sms.requests[0].headers["Idempotency-Key"] == idempotency_key(pk)


def test_batch_api_posts_many_messages_per_request(world, settings, http_sms):
    settings.NOTIFY_SMS_BATCH = 10
    notified(world, "negative", 3)
    drain()
    [seen] = http_sms.requests
    assert sorted(m["id"] for m in seen.json()["messages"]) == sorted(
        idempotency_key(r.pk) for r in rows()
    )
    assert {r.status for r in rows()} == {Status.DELIVERED}


def test_webhook_is_signed_and_verifiable(world, settings):
    settings.NOTIFY_CHANNELS = ["webhook"]
    settings.NOTIFY_THREADS = 2
    with Gateway() as partner_app:
        partner, endpoint = partner_with_endpoint(world, url=partner_app.url)
        [person] = people_with_consent(world, partner)
        drain()
        [seen] = partner_app.requests
    assert verify(endpoint.secret, seen.body, seen.headers[HEADER])
    assert not verify("wrong-secret", seen.body, seen.headers[HEADER])
    assert not verify(endpoint.secret, seen.body + b" ", seen.headers[HEADER])
    body = json.loads(seen.body)
    [row] = rows()
    assert body == {
        "id": idempotency_key(row.pk),
        "event": "outcome.release",
        "person": person.public_id,
        "code": person.display_code,
        "campaign": str(world.campaign.public_id),
        "outcome": "negative",
        "decided_at": body["decided_at"],
    }
    assert row.status == Status.DELIVERED


def people_with_consent(world, partner):
    from tests.results.helpers import release, resulted
    from tests.sampling.factories import people

    members = people(world, 1)
    Consent.objects.create(person=members[0], partner=partner)
    release(world, resulted(world, "negative", members))
    return members


def test_webhook_not_sent_after_consent_withdrawn(world, settings):
    settings.NOTIFY_CHANNELS = ["webhook"]
    partner, _endpoint = partner_with_endpoint(world)
    [person] = people_with_consent(world, partner)
    Consent.objects.filter(person=person).update(revoked_at=timezone.now())
    drain()
    assert rows()[0].reason == Reason.NO_CONSENT
    endpoints.disable(by=None, partner=partner)


def test_smtp_delivery_to_a_real_server(world, settings):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.NOTIFY_CHANNELS = ["email"]
        [person] = notified(world, "negative", 1, email="nguoi@example.vn")
        drain()
    finally:
        controller.stop()
    [row] = rows()
    [message] = received
    assert message["To"] == "nguoi@example.vn"
    assert message["Message-ID"] == f"<{idempotency_key(row.pk)}@swabline.notifications>"
    assert person.display_code in str(message["Subject"])
    body = message.get_payload(decode=True).decode()
    assert "NEGATIVE" in body and "/lookup/" in body
    assert row.status == Status.DELIVERED


def test_smtp_server_down_is_temporary(world, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.NOTIFY_CHANNELS = ["email"]
    notified(world, "negative", 1, email="nguoi@example.vn")
    drain()
    assert (rows()[0].status, rows()[0].reason) == (Status.TEMPORARY_FAILURE, Reason.UNREACHABLE)
