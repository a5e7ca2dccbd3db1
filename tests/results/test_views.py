"""Officials' recall list and its export: scope by place, roles, filters, safe cells."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from swabline.audit.models import AuditEvent
from swabline.people.models import Person
from swabline.sampling.enums import SampleKind, TubeKind
from tests.results.helpers import released, tube_with
from tests.sampling.factories import people

pytestmark = pytest.mark.django_db


def url(world, name="results:recall-list"):
    return reverse(name, args=[world.campaign.public_id])


@pytest.fixture
def lists(world):
    """A positive pool in ward A (3 people, one resampled), one in ward B (2 people),
    an invalid pool in ward A (2 people)."""
    pool_a = released(world, "positive", 3)
    pool_b = released(world, "positive", 2, site=world.site_b)
    invalid_a = released(world, "invalid", 2)
    first = pool_a.tube.samples.order_by("position")[0].person
    tube_with(world, [first], kind=TubeKind.INDIVIDUAL, sample_kind=SampleKind.RECALL)
    return {"a": pool_a, "b": pool_b, "invalid": invalid_a, "resampled": first}


def names(response):
    return sorted(row.person.full_name for row in response.context["page"])


def test_ward_official_sees_only_their_wards_recall_list(world, lists):
    response = world.client_for("ward_a").get(url(world))
    assert response.status_code == 200
    expected = sorted(s.person.full_name for s in lists["a"].tube.samples.all())
    assert names(response) == expected
    assert lists["b"].tube.code not in response.content.decode()
    response = world.client_for("ward_b").get(url(world))
    assert names(response) == sorted(s.person.full_name for s in lists["b"].tube.samples.all())


def test_province_official_sees_both_wards_and_filters(world, lists):
    client = world.client_for("province")
    assert len(names(client.get(url(world)))) == 5
    assert len(names(client.get(url(world), {"ward": world.ward_b.code}))) == 2
    assert names(client.get(url(world), {"resampled": "yes"})) == [lists["resampled"].full_name]
    assert len(names(client.get(url(world), {"resampled": "no"}))) == 4
    recollect = client.get(url(world), {"state": "recollect"})
    assert names(recollect) == sorted(
        s.person.full_name for s in lists["invalid"].tube.samples.all()
    )


def test_the_list_shows_contact_details_and_the_pool(world, lists):
    person = lists["a"].tube.samples.order_by("position").last().person
    Person.objects.filter(pk=person.pk).update(phone="+84912345678", address="12 Lê Lợi")
    content = world.client_for("ward_a").get(url(world)).content.decode()
    assert "+84912345678" in content and "12 Lê Lợi" in content
    assert lists["a"].tube.code in content


@pytest.mark.parametrize(
    "user", ["labtech_a", "labsupervisor_a", "sampler_a", "courier_a", "nobody"]
)
def test_wrong_roles_get_403(world, lists, user):
    client = world.client_for(user)
    assert client.get(url(world)).status_code == 403
    assert client.get(url(world, "results:recall-export")).status_code == 403
    assert client.get(reverse("results:campaigns")).status_code == 403


def test_an_official_of_another_province_gets_404(world, lists):
    from swabline.accounts import services as accounts
    from swabline.accounts.enums import Role
    from tests.factories import UserFactory

    other = UserFactory.create(username="ward_c")
    accounts.assign(user=other, role=Role.OFFICIAL, by=None, place=world.ward_c)
    client = world.client_for("nobody")
    client.force_login(other)
    assert client.get(url(world)).status_code == 404
    assert client.get(url(world, "results:recall-export")).status_code == 404
    assert world.campaign.name not in client.get(reverse("results:campaigns")).content.decode()


def test_campaign_list_links_to_the_recall_list(world, lists):
    content = world.client_for("ward_a").get(reverse("results:campaigns")).content.decode()
    assert url(world) in content


def test_the_list_is_paginated_with_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    released(world, "positive", people(world, 10))
    released(world, "positive", people(world, 10))
    client = world.client_for("ward_a")
    with django_assert_max_num_queries(12):
        response = client.get(url(world))
    assert response.context["page"].paginator.count == 20


def test_export_is_audited_scoped_and_neutralises_formulas(world, lists):
    evil = lists["a"].tube.samples.order_by("position").last().person
    Person.objects.filter(pk=evil.pk).update(full_name='=HYPERLINK("x")', address="+1 Lê Lợi")
    response = world.client_for("ward_a").get(url(world, "results:recall-export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Họ và tên", "Năm sinh", "Số điện thoại") or len(rows[0]) == 8
    assert len(rows) == 4  # header + ward A's three
    cells = {c.value: c for row in sheet.iter_rows() for c in row}
    assert cells['=HYPERLINK("x")'].data_type == "s"
    assert cells["+1 Lê Lợi"].data_type == "s"
    [event] = AuditEvent.objects.filter(action="results.recall_exported")
    assert event.actor_id == world.users["ward_a"].pk
    assert event.data == {"state": "recall", "ward": "", "resampled": None}


def test_home_page_offers_the_recall_lists_to_officials(world):
    content = world.client_for("ward_a").get("/").content.decode()
    assert reverse("results:campaigns") in content
    content = world.client_for("labtech_a").get("/").content.decode()
    assert reverse("results:campaigns") not in content
