"""The outbox is written by the release's own transaction, set-based, per channel."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.audit.models import AuditEvent
from swabline.notifications import endpoints, services
from swabline.notifications.enums import Status, Trigger
from swabline.notifications.models import Notification
from swabline.people.models import Consent
from swabline.results import services as results
from swabline.sampling.enums import TubeStatus
from swabline.sampling.services import transition as tube_transition
from tests.factories import UserFactory
from tests.notifications.helpers import notified, rows
from tests.results.helpers import receive, release, resulted, tube_with
from tests.sampling.factories import people


def partner_with_endpoint(world, url="http://127.0.0.1:9/hook"):
    partner = UserFactory.create(username=f"partner-{uuid.uuid4().hex[:6]}")
    accounts.assign(user=partner, role=Role.PARTNER, by=None)
    return partner, endpoints.register(by=None, partner=partner, url=url)


def test_release_writes_one_sms_per_person_with_a_phone(world):
    members = people(world, 3)
    members[2].phone = ""
    members[2].save()
    result = resulted(world, "negative", members)
    rel = release(world, result)
    sms = rows(channel="sms")
    assert [(n.person_id, n.recipient, n.state, n.trigger, n.status) for n in sms] == [
        (p.pk, p.phone, "negative", Trigger.RELEASE, Status.CREATED) for p in members[:2]
    ]
    assert {n.release_id for n in sms} == {rel.pk}
    assert {n.province_code for n in sms} == {world.ward_a.province_code}
    assert rows(channel="email") == []


def test_email_rows_for_people_with_an_address(world):
    members = notified(world, "positive", 1, email="nguoi@example.vn")
    [sms] = rows(channel="sms")
    [email] = rows(channel="email")
    assert (sms.state, email.state) == ("recall", "recall")
    assert email.recipient == "nguoi@example.vn"
    assert email.person_id == members[0].pk


def test_webhook_rows_only_for_active_consent_and_endpoint(world):
    partner, endpoint = partner_with_endpoint(world)
    other, _ = partner_with_endpoint(world)
    members = people(world, 3)
    Consent.objects.create(person=members[0], partner=partner)
    Consent.objects.create(person=members[1], partner=partner, revoked_at=timezone.now())
    Consent.objects.create(person=members[2], partner=other)
    endpoints.disable(by=None, partner=other)
    release(world, resulted(world, "negative", members))
    [hook] = rows(channel="webhook")
    assert (hook.person_id, hook.endpoint_id, hook.recipient) == (
        members[0].pk,
        endpoint.pk,
        endpoint.url,
    )


def test_rows_roll_back_with_the_release(world):
    result = resulted(world, "negative", 2)
    with pytest.raises(RuntimeError), transaction.atomic():
        release(world, result)
        assert len(rows()) == 2
        raise RuntimeError
    assert rows() == []


def test_a_correction_notifies_only_the_people_whose_outcome_changed(world):
    members = people(world, 2)
    first = resulted(world, "negative", members[:1], kind="individual")
    pool = resulted(world, "negative", members[1:])
    release(world, first, pool)
    before = len(rows())
    first.refresh_from_db()
    results.amend_result(
        by=world.users["labsupervisor_a"], result=first, value="positive", reason="typo"
    )
    new = rows(trigger=Trigger.CORRECTION)
    assert [(n.person_id, n.state) for n in new] == [(members[0].pk, "positive")]
    assert len(rows()) == before + 1


def test_a_rejected_tube_tells_its_members_to_come_back(world):
    tube = receive(world, tube_with(world, 2))
    from swabline.shipping.models import ShipmentTube  # noqa: F401 (lab lookup below)

    tube_transition(tube, TubeStatus.REJECTED, by=world.users["admin"])
    from swabline.results.enums import ReleaseKind
    from swabline.results.models import Release

    rel = Release.objects.create(
        lab=world.lab_a, kind=ReleaseKind.REJECTION, released_by=world.users["admin"]
    )
    from swabline.results import logic

    logic.decide(rel, rejected_tube_ids=[tube.pk])
    services.queue_for_release(rel)
    assert {(n.state, n.trigger) for n in rows()} == {("recollect", Trigger.REJECTION)}
    assert len(rows()) == 2


def test_channels_can_be_turned_off(world, settings):
    settings.NOTIFY_CHANNELS = ["email"]
    notified(world, "negative", 2)
    assert rows() == []


def test_resend_writes_rows_once_per_client_id_and_audits(world):
    [person] = notified(world, "negative", 1, email="a@example.vn")
    client_id = uuid.uuid4()
    by = world.users["dataentry_a"]
    assert services.resend(by=by, person=person, client_id=client_id) == 2
    assert services.resend(by=by, person=person, client_id=client_id) == 0
    resent = rows(trigger=Trigger.RESEND)
    assert sorted(n.channel for n in resent) == ["email", "sms"]
    assert AuditEvent.objects.filter(action="notifications.resent").count() == 1


def test_resend_goes_to_the_current_phone(world):
    [person] = notified(world, "negative", 1)
    person.phone = "+84912000111"
    person.save()
    services.resend(by=world.users["ward_a"], person=person, client_id=uuid.uuid4())
    [row] = rows(trigger=Trigger.RESEND)
    assert row.recipient == "+84912000111"


def test_resend_refused_out_of_place_and_without_result(world):
    [person] = notified(world, "negative", 1)
    with pytest.raises(PermissionDenied):
        services.resend(by=world.users["ward_b"], person=person, client_id=uuid.uuid4())
    with pytest.raises(PermissionDenied):
        services.resend(by=world.users["sampler_a"], person=person, client_id=uuid.uuid4())
    [stranger] = people(world, 1)
    with pytest.raises(ValidationError):
        services.resend(by=world.users["ward_a"], person=stranger, client_id=uuid.uuid4())


def test_transition_follows_the_table(world):
    notified(world, "negative", 1)
    [row] = rows()
    assert services.transition([row.pk], Status.DELIVERED) == 0  # created → delivered: no
    assert services.transition([row.pk], Status.SENDING) == 1
    assert services.transition([row.pk], Status.DELIVERED, claim="other") == 0
    assert services.transition([row.pk], Status.DELIVERED) == 1
    assert services.transition([row.pk], Status.TEMPORARY_FAILURE) == 0
    assert services.transition([row.pk], Status.PERMANENT_FAILURE) == 1
    assert services.transition([row.pk], Status.SENDING) == 0
    assert Notification.objects.get(pk=row.pk).status == Status.PERMANENT_FAILURE
