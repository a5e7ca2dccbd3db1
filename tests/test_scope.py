"""A user of the wrong place, site or lab gets 404 for others' objects; the wrong role, 403."""

from __future__ import annotations

import pytest
from django.urls import reverse

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import has_permission, scoped
from swabline.campaigns.models import Site
from swabline.people.models import Person
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


def test_ward_official_sees_own_ward_and_gets_404_for_ward_b(world):
    client = world.client_for("ward_a")
    own = PersonFactory.create(ward=world.ward_a)
    other = PersonFactory.create(ward=world.ward_b)

    assert client.get(reverse("places:detail", args=[world.ward_a.code])).status_code == 200
    assert client.get(reverse("places:detail", args=[world.ward_b.code])).status_code == 404
    assert (
        client.get(reverse("campaigns:site-detail", args=[world.site_a.public_id])).status_code
        == 200
    )
    assert (
        client.get(reverse("campaigns:site-detail", args=[world.site_b.public_id])).status_code
        == 404
    )
    assert client.get(reverse("people:detail", args=[own.public_id])).status_code == 200
    assert client.get(reverse("people:detail", args=[other.public_id])).status_code == 404


def test_ward_lists_hold_only_the_ward(world):
    PersonFactory.create(ward=world.ward_a, full_name="Trần Thị Ánh")
    PersonFactory.create(ward=world.ward_b, full_name="Trần Thị Bích")
    body = (
        world.client_for("ward_a").get(reverse("people:list"), {"q": "tran thi"}).content.decode()
    )
    assert "Trần Thị Ánh" in body
    assert "Trần Thị Bích" not in body
    sites = world.client_for("ward_a").get(reverse("campaigns:site-list")).content.decode()
    assert "Điểm A" in sites
    assert "Điểm B" not in sites


def test_province_official_sees_both_wards_but_not_another_province(world):
    client = world.client_for("province")
    assert client.get(reverse("places:detail", args=[world.ward_a.code])).status_code == 200
    assert client.get(reverse("places:detail", args=[world.ward_b.code])).status_code == 200
    assert client.get(reverse("places:detail", args=[world.ward_c.code])).status_code == 404


def test_lab_staff_see_only_their_lab(world):
    client = world.client_for("labtech_a")
    assert client.get(reverse("labs:detail", args=[world.lab_a.public_id])).status_code == 200
    assert client.get(reverse("labs:detail", args=[world.lab_b.public_id])).status_code == 404
    assert "Lab B" not in client.get(reverse("labs:list")).content.decode()


@pytest.mark.parametrize(
    ("persona", "url_name"),
    [
        ("labtech_a", "people:list"),
        ("labtech_a", "campaigns:site-list"),
        ("sampler_a", "labs:list"),
        ("courier_a", "people:list"),
        ("ward_a", "labs:list"),
        ("nobody", "places:list"),
        ("dataentry_a", "campaigns:site-list"),
    ],
)
def test_wrong_role_is_refused(world, persona, url_name):
    assert world.client_for(persona).get(reverse(url_name)).status_code == 403


def test_sampler_sees_own_site_only(world):
    assert has_permission(world.users["sampler_a"], Permission.VIEW_SITES, world.site_a)
    assert not has_permission(world.users["sampler_a"], Permission.VIEW_SITES, world.site_b)
    visible = scoped(
        Site.objects.all(),
        world.users["sampler_a"],
        Permission.VIEW_SITES,
        place_path="ward__path",
        site="id",
    )
    assert list(visible) == [world.site_a]


def test_sampler_sees_people_of_their_sites_ward(world):
    own = PersonFactory.create(ward=world.ward_a)
    PersonFactory.create(ward=world.ward_b)
    visible = scoped(
        Person.objects.all(),
        world.users["sampler_a"],
        Permission.VIEW_PEOPLE,
        place_path="ward__path",
    )
    assert list(visible) == [own]


def test_admin_sees_everything_and_nobody_sees_nothing(world):
    PersonFactory.create(ward=world.ward_c)
    assert (
        scoped(
            Person.objects.all(),
            world.users["admin"],
            Permission.VIEW_PEOPLE,
            place_path="ward__path",
        ).count()
        == 1
    )
    assert (
        scoped(
            Person.objects.all(),
            world.users["nobody"],
            Permission.VIEW_PEOPLE,
            place_path="ward__path",
        ).count()
        == 0
    )
    assert not has_permission(world.users["nobody"], Permission.VIEW_PEOPLE)


def test_lab_grant_does_not_leak_to_place_records(world):
    # A lab in the province does not make its staff see the province's people.
    assert not has_permission(world.users["labsupervisor_a"], Permission.VIEW_PEOPLE, world.ward_a)
    assert has_permission(world.users["labsupervisor_a"], Permission.RELEASE_RESULTS, world.lab_a)
    assert not has_permission(world.users["labtech_a"], Permission.RELEASE_RESULTS, world.lab_a)
