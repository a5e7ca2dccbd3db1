"""Staff pages: a person's messages with Resend, and the officials' overview."""

from __future__ import annotations

import uuid

from django.urls import reverse
from django.utils import translation

from swabline.audit.models import AuditEvent
from swabline.notifications.enums import Reason, Status, Trigger
from swabline.notifications.models import Notification
from tests.notifications.helpers import notified, rows
from tests.sampling.factories import people


def page(person):
    return reverse("notifications:person", args=[person.public_id])


def test_helper_sees_masked_messages(world):
    [person] = notified(world, "negative", 1, email="nguoi@example.vn")
    response = world.client_for("dataentry_a").get(page(person))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-testid="message-row"') == 2
    assert person.phone not in html and "nguoi@example.vn" not in html
    assert person.phone[:4] + "•" in html and "n•••@example.vn" in html


def test_wrong_role_and_wrong_place_are_refused(world):
    [person] = notified(world, "negative", 1)
    assert world.client_for("sampler_a").get(page(person)).status_code == 403
    assert world.client_for("labsupervisor_a").get(page(person)).status_code == 403
    assert world.client_for("ward_b").get(page(person)).status_code == 404
    assert world.client_for("ward_b").post(page(person)).status_code == 404
    assert world.client_for("sampler_a").post(page(person)).status_code == 403
    assert rows(trigger=Trigger.RESEND) == []


def test_resend_once_per_form(world):
    [person] = notified(world, "negative", 1)
    client = world.client_for("ward_a")
    client_id = str(uuid.uuid4())
    for _ in range(2):
        response = client.post(page(person), {"client_id": client_id})
        assert response.status_code == 302
    assert len(rows(trigger=Trigger.RESEND)) == 1
    assert AuditEvent.objects.filter(action="notifications.resent").count() == 1


def test_resend_without_a_result_says_why(world):
    [person] = people(world, 1)
    client = world.client_for("ward_a")
    with translation.override("en"):
        response = client.post(
            page(person),
            {"client_id": str(uuid.uuid4())},
            follow=True,
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert "Nothing to send" in response.content.decode()


def test_overview_counts_by_status_in_the_officials_place(world):
    notified(world, "negative", 2)
    [other] = people(world, 1, ward=world.ward_b)
    from tests.results.helpers import released

    released(world, "negative", [other])
    Notification.objects.filter(person=other).update(
        status=Status.PERMANENT_FAILURE, reason=Reason.REJECTED
    )
    response = world.client_for("ward_a").get(reverse("notifications:overview"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-status="created"><th>' in html
    counts = {status: n for _label, status, n in response.context["counts"]}
    assert counts[Status.CREATED] == 2 and counts[Status.PERMANENT_FAILURE] == 0
    province = world.client_for("province").get(reverse("notifications:overview"))
    assert len(province.context["failures"]) == 1
    assert province.context["failures"][0]["person"] == other


def test_overview_refused_to_other_roles(world):
    url = reverse("notifications:overview")
    assert world.client_for("dataentry_a").get(url).status_code == 403
    assert world.client_for("labtech_a").get(url).status_code == 403
    assert world.client_for("nobody").get(url).status_code == 403


def test_person_page_links_to_messages_for_helpers_only(world):
    [person] = people(world, 1)
    detail = reverse("people:detail", args=[person.public_id])
    assert page(person) in world.client_for("dataentry_a").get(detail).content.decode()
    sampler = world.client_for("sampler_a").get(detail)
    assert sampler.status_code == 200 and page(person) not in sampler.content.decode()
