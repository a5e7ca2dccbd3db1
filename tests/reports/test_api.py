"""`/api/v1/reports`: the same numbers as the pages, scoped the same way."""

from __future__ import annotations

import uuid

import pytest

from swabline.accounts import services as accounts
from swabline.reports import maths
from tests.factories import CampaignFactory
from tests.reports.helpers import campaign_day

pytestmark = pytest.mark.django_db


def bearer(world, name):
    _, raw = accounts.issue_token(user=world.users[name], name="report tool")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def get(client, world, user, campaign, what, **params):
    path = f"/api/v1/reports/{campaign.public_id}/{what}"
    return client.get(path, params, **bearer(world, user))


def test_turnaround_numbers(world, client):
    campaign_day(world)
    response = get(client, world, "province", world.campaign, "turnaround")
    assert response.status_code == 200
    body = response.json()
    assert body["campaign"] == str(world.campaign.public_id)
    assert body["place"] == world.province.code
    assert [w["code"] for w in body["wards"]] == [world.ward_b.code, world.ward_a.code]
    assert body["total"]["receipt"]["count"] == 4
    assert body["total"]["receipt"]["median_seconds"] >= 0
    assert [lab["code"] for lab in body["labs"]] == [world.lab_a.code]


def test_advisor_numbers(world, client):
    campaign_day(world)
    body = get(client, world, "ward_a", world.campaign, "advisor").json()
    assert body["place"] == world.ward_a.code and body["sizes"] == [1, 3, 5, 10]
    [ward, overall] = body["advice"]
    assert ward["ward"] == world.ward_a.code and overall["ward"] is None
    expected = 1 - (3 / 7) ** 0.25  # a negative pool of 3 and a positive pool of 4
    assert ward["prevalence"] == pytest.approx(expected)
    assert ward["recommended"] == maths.best_size([1, 3, 5, 10], expected)
    assert [o["size"] for o in ward["options"]] == [1, 3, 5, 10]
    assert ward["options"][1]["recalled"] == pytest.approx(20 * (1 - (1 - expected) ** 3))


@pytest.mark.parametrize("what", ["turnaround", "advisor"])
def test_refusals(world, client, what):
    for user in ("sampler_a", "labtech_a", "dataentry_a"):
        assert get(client, world, user, world.campaign, what).status_code == 403
    # Wrong place, another province's campaign, an unknown campaign.
    assert (
        get(client, world, "ward_a", world.campaign, what, place=world.ward_b.code).status_code
        == 404
    )
    elsewhere = CampaignFactory.create(province=world.other_province)
    assert get(client, world, "province", elsewhere, what).status_code == 404
    unknown = CampaignFactory.build(public_id=uuid.uuid4())
    assert get(client, world, "admin", unknown, what).status_code == 404
    assert client.get(f"/api/v1/reports/{world.campaign.public_id}/{what}").status_code == 401
