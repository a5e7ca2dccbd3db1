"""The ward's live view of its sampling sites (issue 4, item 6)."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_ward_official_sees_only_their_sites(world):
    body = world.client_for("ward_a").get(reverse("sampling:site-status")).content.decode()
    assert "Điểm A" in body
    assert "Điểm B" not in body
    both = world.client_for("province").get(reverse("sampling:site-status")).content.decode()
    assert "Điểm A" in both
    assert "Điểm B" in both


@pytest.mark.parametrize("persona", ["labtech_a", "dataentry_a", "nobody"])
def test_other_roles_are_refused(world, persona):
    assert world.client_for(persona).get(reverse("sampling:site-status")).status_code == 403


def test_query_count_does_not_grow_with_sites(world, django_assert_max_num_queries):
    from tests.factories import SiteFactory

    for n in range(10):
        SiteFactory.create(campaign=world.campaign, ward=world.ward_a, name=f"Điểm thêm {n}")
    client = world.client_for("province")
    with django_assert_max_num_queries(12):
        assert client.get(reverse("sampling:site-status")).status_code == 200
