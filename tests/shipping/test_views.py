"""Shipment pages: the courier's packing flow, the lab's receipt screen, and access."""

from __future__ import annotations

import pytest
from django.urls import reverse

from swabline.accounts.enums import Role
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from swabline.shipping.enums import ShipmentStatus
from swabline.shipping.models import Shipment, ShipmentTube
from tests.shipping.helpers import in_transit, shipment, tube

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def url(name, s=None):
    return reverse(f"shipping:{name}", kwargs={"public_id": s.public_id} if s else None)


def test_courier_packs_and_hands_over(world):
    client = world.client_for("courier_a")
    page = client.get(reverse("shipping:new"))
    assert page.status_code == 200
    data = {
        "site": str(world.site_a.public_id),
        "lab": str(world.lab_a.public_id),
        "client_id": str(page.context["client_id"]),
    }
    first = client.post(reverse("shipping:new"), data)
    assert client.post(reverse("shipping:new"), data)["Location"] == first["Location"]
    s = Shipment.objects.get()
    t, open_ = tube(world), tube(world, status=TubeStatus.OPEN)
    answer = client.post(url("add-tube", s), {"code": t.code}, **HX)
    assert f'data-testid="tube-{t.code}"' in answer.content.decode()
    refused = client.post(url("add-tube", s), {"code": open_.code}, **HX).content.decode()
    assert 'role="alert"' in refused and open_.code in refused
    assert client.post(url("hand-over", s), {"courier_name": "Chị Ba"}).status_code == 302
    s.refresh_from_db()
    assert s.status == ShipmentStatus.IN_TRANSIT and s.courier_name == "Chị Ba"
    assert Tube.objects.get(pk=t.pk).status == TubeStatus.SHIPPED
    pdf = client.get(url("manifest-pdf", s))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    xlsx = client.get(url("manifest-xlsx", s))
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    listing = client.get(reverse("shipping:list")).content.decode()
    assert f"shipment-{s.public_id}" in listing


def test_remove_and_cancel(world):
    client = world.client_for("sampler_a")
    s, t = shipment(world), tube(world)
    client.post(url("add-tube", s), {"code": t.code})
    assert ShipmentTube.objects.filter(active=True).count() == 1
    client.post(url("remove-tube", s), {"code": t.code}, **HX)
    assert not ShipmentTube.objects.filter(active=True).exists()
    assert client.post(url("cancel", s))["Location"] == reverse("shipping:list")
    assert Shipment.objects.get().status == ShipmentStatus.CANCELLED


def test_lab_receives_by_scanning(world):
    found, missing = tube(world), tube(world)
    s = in_transit(world, [found, missing])
    stray = tube(world)
    client = world.client_for("labtech_a")
    incoming = client.get(reverse("shipping:receipt_list")).content.decode()
    assert f"receive-{s.public_id}" in incoming
    assert client.get(url("receipt", s)).status_code == 200
    panel = client.post(url("receipt-scan", s), {"code": found.code}, **HX).content.decode()
    assert f'data-testid="found-{found.code}"' in panel
    assert f'data-testid="missing-{missing.code}"' in panel
    panel = client.post(url("receipt-scan", s), {"code": stray.code}, **HX).content.decode()
    assert f'data-testid="unexpected-{stray.code}"' in panel
    assert client.post(url("receive", s)).status_code == 302
    s.refresh_from_db()
    assert s.status == ShipmentStatus.RECEIVED
    listing = client.get(reverse("shipping:receipt_list")).content.decode()
    assert f'data-testid="issues-{s.public_id}"' in listing
    detail = client.get(url("detail", s)).content.decode()
    assert f"discrepancy-missing-{missing.code}" in detail
    assert f"discrepancy-unexpected-{stray.code}" in detail
    # the missing tube arrives late
    client.post(url("receipt-scan", s), {"code": missing.code}, **HX)
    assert Tube.objects.get(pk=missing.pk).status == TubeStatus.RECEIVED


def test_reject_from_the_receipt_screen(world):
    t = tube(world)
    s = in_transit(world, [t])
    client = world.client_for("labsupervisor_a")
    panel = client.post(url("reject", s), {"code": t.code, "reason": "leaked"}, **HX)
    assert panel.status_code == 200
    assert Tube.objects.get(pk=t.pk).status == TubeStatus.REJECTED


# --- Access --------------------------------------------------------------------------------


def test_lab_b_gets_404_for_lab_a_shipments(world):
    s = in_transit(world, [tube(world)])
    client = world.client_for("labtech_b")
    for name in ("detail", "receipt", "manifest-pdf", "manifest-xlsx"):
        assert client.get(url(name, s)).status_code == 404, name
    for name in ("receipt-scan", "receive", "reject"):
        assert client.post(url(name, s), {"code": "1"}).status_code == 404, name
    assert (
        f"receive-{s.public_id}"
        not in client.get(reverse("shipping:receipt_list")).content.decode()
    )
    assert Shipment.objects.get().status == ShipmentStatus.IN_TRANSIT


def test_a_lab_does_not_see_a_shipment_still_packing(world):
    s = shipment(world)
    assert world.client_for("labtech_a").get(url("detail", s)).status_code == 404


def test_a_courier_of_site_b_cannot_see_site_a(world):
    from swabline.accounts import services as accounts
    from tests.factories import UserFactory

    courier_b = UserFactory.create(username="courier_b")
    accounts.assign(user=courier_b, role=Role.COURIER, by=None, site=world.site_b)
    world.users["courier_b"] = courier_b
    s = shipment(world)
    client = world.client_for("courier_b")
    for name in ("detail", "manifest-pdf"):
        assert client.get(url(name, s)).status_code == 404
    for name in ("add-tube", "hand-over", "cancel"):
        assert client.post(url(name, s), {"code": "1"}).status_code == 404
    assert f"shipment-{s.public_id}" not in client.get(reverse("shipping:list")).content.decode()


def test_a_technician_cannot_create_or_pack(world):
    client = world.client_for("labtech_a")
    assert client.get(reverse("shipping:new")).status_code == 403
    assert client.get(reverse("shipping:list"))["Location"] == reverse("shipping:receipt_list")
    s = shipment(world)
    assert client.post(url("add-tube", s), {"code": tube(world).code}).status_code == 403


def test_a_courier_cannot_receive(world):
    s = in_transit(world, [tube(world)])
    client = world.client_for("courier_a")
    assert client.get(reverse("shipping:receipt_list")).status_code == 403
    assert client.get(url("receipt", s)).status_code == 403
    assert client.post(url("receive", s)).status_code == 403
    assert Shipment.objects.get().status == ShipmentStatus.IN_TRANSIT


@pytest.mark.parametrize("persona", ["nobody", "ward_a", "dataentry_a"])
def test_other_roles_are_refused(world, persona):
    client = world.client_for(persona)
    assert client.get(reverse("shipping:list")).status_code == 403
    assert client.get(reverse("shipping:receipt_list")).status_code == 403


def test_list_query_count_does_not_grow(world, django_assert_max_num_queries):
    for _ in range(5):
        in_transit(world, [tube(world, people=1)])
    client = world.client_for("courier_a")
    with django_assert_max_num_queries(8):
        assert client.get(reverse("shipping:list")).status_code == 200


SITE_POSTS = ("add-tube", "remove-tube", "hand-over", "cancel")
LAB_POSTS = ("receipt-scan", "receipt-unscan", "receive", "reject")
READS = ("detail", "manifest-pdf", "manifest-xlsx")


def courier_b(world):
    from swabline.accounts import services as accounts
    from tests.factories import UserFactory

    user = UserFactory.create(username="courier_b")
    accounts.assign(user=user, role=Role.COURIER, by=None, site=world.site_b)
    world.users["courier_b"] = user
    return world.client_for("courier_b")


@pytest.mark.parametrize("name", SITE_POSTS)
def test_site_actions_refuse_wrong_role_and_wrong_site(world, name):
    s = shipment(world)
    t = tube(world)
    body = {"code": t.code}
    assert world.client_for("labtech_a").post(url(name, s), body).status_code == 403
    assert world.client_for("nobody").post(url(name, s), body).status_code == 403
    assert courier_b(world).post(url(name, s), body).status_code == 404
    assert Shipment.objects.get().status == ShipmentStatus.PACKING
    assert not ShipmentTube.objects.exists()


@pytest.mark.parametrize("name", LAB_POSTS)
def test_lab_actions_refuse_wrong_role_and_wrong_lab(world, name):
    t = tube(world)
    s = in_transit(world, [t])
    body = {"code": t.code, "reason": "leaked"}
    assert world.client_for("courier_a").post(url(name, s), body).status_code == 403
    assert world.client_for("sampler_a").post(url(name, s), body).status_code == 403
    assert world.client_for("labtech_b").post(url(name, s), body).status_code == 404
    assert Shipment.objects.get().status == ShipmentStatus.IN_TRANSIT
    assert Tube.objects.get(pk=t.pk).status == TubeStatus.SHIPPED


@pytest.mark.parametrize("name", READS)
def test_reads_refuse_wrong_role_and_wrong_place(world, name):
    s = in_transit(world, [tube(world)])
    assert world.client_for("nobody").get(url(name, s)).status_code == 403
    assert world.client_for("ward_a").get(url(name, s)).status_code == 403
    assert world.client_for("labtech_b").get(url(name, s)).status_code == 404
    assert courier_b(world).get(url(name, s)).status_code == 404
    assert world.client_for("labtech_a").get(url(name, s)).status_code == 200
    assert world.client_for("courier_a").get(url(name, s)).status_code == 200


def test_a_wrong_scan_can_be_undone(world):
    s = in_transit(world, [tube(world)])
    stray = tube(world)
    client = world.client_for("labtech_a")
    panel = client.post(url("receipt-scan", s), {"code": stray.code}, **HX).content.decode()
    assert f'data-testid="unexpected-{stray.code}"' in panel
    assert url("receipt-unscan", s) in panel
    panel = client.post(url("receipt-unscan", s), {"code": stray.code}, **HX).content.decode()
    assert f'data-testid="unexpected-{stray.code}"' not in panel
    client.post(url("receive", s))
    assert not s.discrepancies.filter(kind="unexpected").exists()
