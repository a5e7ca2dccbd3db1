"""`/api/v1/shipments`: site apps pack and hand over, lab systems receive."""

from __future__ import annotations

import json
import uuid

import pytest

from swabline.accounts import services as accounts
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from swabline.shipping.enums import ShipmentStatus
from swabline.shipping.models import Shipment
from tests.shipping.helpers import in_transit, shipment, tube
from tests.shipping.test_services import mistype

pytestmark = pytest.mark.django_db
BASE = "/api/v1/shipments"


def bearer(world, name):
    _, raw = accounts.issue_token(user=world.users[name], name="lab system")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def post(client, url, body, who):
    return client.post(url, json.dumps(body), content_type="application/json", **who)


def test_site_app_creates_packs_and_hands_over(client, world):
    who = bearer(world, "courier_a")
    body = {"client_id": str(uuid.uuid4()), "site": str(world.site_a.public_id),
            "lab": str(world.lab_a.public_id)}  # fmt: skip
    created = post(client, BASE, body, who)
    assert created.status_code == 201, created.content
    again = post(client, BASE, body, who)
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    sid = created.json()["id"]
    t1, t2, open_ = tube(world), tube(world), tube(world, status=TubeStatus.OPEN)

    refused = post(client, f"{BASE}/{sid}/tubes",
                   {"codes": [t1.code, open_.code, mistype(t2.code)]},
                   {**who, "HTTP_ACCEPT_LANGUAGE": "en"})  # fmt: skip
    assert refused.status_code == 422
    assert [(e["code"], e["reason"]) for e in refused.json()["errors"]] == [
        (mistype(t2.code), "mistyped"), (open_.code, "tube_open"),
    ]  # fmt: skip
    assert "still open" in refused.json()["errors"][1]["message"]

    added = post(client, f"{BASE}/{sid}/tubes", {"codes": [t1.code, t2.code]}, who)
    assert added.json() == {"added": 2, "already": 0, "tubes": 2}
    assert post(client, f"{BASE}/{sid}/tubes", {"codes": [t1.code]}, who).json() == {
        "added": 0, "already": 1, "tubes": 2,
    }  # fmt: skip
    handed = post(client, f"{BASE}/{sid}/hand-over", {"courier_name": "Anh Năm"}, who)
    assert handed.status_code == 200 and handed.json()["status"] == "in_transit"
    assert post(client, f"{BASE}/{sid}/hand-over", {}, who).status_code == 200
    late = post(client, f"{BASE}/{sid}/tubes", {"codes": [tube(world).code]}, who)
    assert late.status_code == 409 and late.json()["reason"] == "not_packing"


def test_an_empty_shipment_is_a_conflict(client, world):
    s = shipment(world)
    answer = post(client, f"{BASE}/{s.public_id}/hand-over", {}, bearer(world, "courier_a"))
    assert answer.status_code == 409 and answer.json()["reason"] == "empty"


def test_lab_system_lists_reads_and_receives(client, world):
    found, missing = tube(world, people=2), tube(world)
    s = in_transit(world, [found, missing])
    stray = tube(world)
    who = bearer(world, "labtech_a")
    incoming = client.get(f"{BASE}/incoming", **who).json()
    assert [x["id"] for x in incoming] == [str(s.public_id)]
    manifest = client.get(f"{BASE}/{s.public_id}/manifest", **who).json()
    assert [t["code"] for t in manifest["tubes"]] == [found.code, missing.code]
    assert manifest["tubes"][0]["people_count"] == 2
    assert set(manifest["tubes"][0]["people"][0]) == {"name", "birth_year"}

    bad = post(client, f"{BASE}/{s.public_id}/receive", {"codes": [mistype(found.code)]}, who)
    assert bad.status_code == 422 and Shipment.objects.get().status == ShipmentStatus.IN_TRANSIT
    answer = post(client, f"{BASE}/{s.public_id}/receive", {"codes": [found.code, stray.code]}, who)
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["received"] == 1 and not data["already_received"]
    assert data["discrepancies"] == [
        {"kind": "missing", "code": missing.code},
        {"kind": "unexpected", "code": stray.code},
    ]
    retry = post(client, f"{BASE}/{s.public_id}/receive", {"codes": [found.code]}, who).json()
    assert retry["already_received"] and retry["discrepancies"] == data["discrepancies"]
    assert Tube.objects.get(pk=found.pk).status == TubeStatus.RECEIVED


def test_access(client, world):
    s = in_transit(world, [tube(world)])
    packing = shipment(world)
    lab_b = bearer(world, "labtech_b")
    for url in (f"{BASE}/{s.public_id}", f"{BASE}/{s.public_id}/manifest"):
        assert client.get(url, **lab_b).status_code == 404
    assert post(client, f"{BASE}/{s.public_id}/receive", {"codes": []}, lab_b).status_code == 404
    assert client.get(f"{BASE}/incoming", **lab_b).json() == []
    # the lab does not see a shipment that has not left the site
    assert (
        client.get(f"{BASE}/{packing.public_id}", **bearer(world, "labtech_a")).status_code == 404
    )
    # a courier cannot receive, a technician cannot create or pack
    courier = bearer(world, "courier_a")
    assert post(client, f"{BASE}/{s.public_id}/receive", {"codes": []}, courier).status_code == 403
    assert client.get(f"{BASE}/incoming", **courier).status_code == 403
    tech = bearer(world, "labtech_a")
    body = {"site": str(world.site_a.public_id), "lab": str(world.lab_a.public_id)}
    assert post(client, BASE, body, tech).status_code == 403
    assert post(client, f"{BASE}/{packing.public_id}/tubes", {"codes": []}, tech).status_code == 403
    # a courier of site A cannot ship from site B
    body_b = {"site": str(world.site_b.public_id), "lab": str(world.lab_a.public_id)}
    assert post(client, BASE, body_b, courier).status_code == 404
    assert Shipment.objects.count() == 2


@pytest.mark.parametrize(
    ("method", "suffix", "wrong_role"),
    [
        ("get", "", "nobody"),
        ("get", "/manifest", "nobody"),
        ("post", "/tubes", "labtech_a"),
        ("post", "/hand-over", "labtech_a"),
        ("post", "/receive", "courier_a"),
    ],
)
def test_every_operation_refuses_wrong_role_and_wrong_scope(
    client, world, method, suffix, wrong_role
):
    from tests.shipping.test_views import courier_b

    courier_b(world)
    packing = shipment(world)
    sent = in_transit(world, [tube(world)])
    target = sent if suffix in ("", "/manifest", "/receive") else packing
    path = f"{BASE}/{target.public_id}{suffix}"

    def call(who):
        if method == "get":
            return client.get(path, **bearer(world, who))
        return post(client, path, {"codes": []}, bearer(world, who))

    assert call(wrong_role).status_code == 403
    outsider = "labtech_b" if suffix in ("", "/manifest", "/receive") else "courier_b"
    assert call(outsider).status_code == 404
    assert Shipment.objects.get(pk=packing.pk).status == ShipmentStatus.PACKING
    assert Shipment.objects.get(pk=sent.pk).status == ShipmentStatus.IN_TRANSIT
