"""Shipping services without HTTP: packing, the state machine, receipt, rejection."""

from __future__ import annotations

import itertools
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from swabline.audit.models import AuditEvent
from swabline.sampling.codes import damm_digit
from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from swabline.shipping import queries, services
from swabline.shipping.enums import ALLOWED_TRANSITIONS, DiscrepancyKind, ShipmentStatus
from swabline.shipping.messages import Reason, ShippingError
from swabline.shipping.models import ReceiptDiscrepancy, Shipment, ShipmentTube, TubeRejection
from tests.shipping.helpers import in_transit, other_campaign_site, shipment, tube, tubes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages are checked in English: the Vietnamese ones are folded into the
    catalogue later (locale/vi/pending/shipping.json)."""
    with translation.override("en"):
        yield


def mistype(code: str) -> str:
    """`code` with its last body digit changed: the Damm check catches it."""
    wrong = str((int(code[-2]) + 1) % 10)
    return code[:-2] + wrong + code[-1]


def unknown_code() -> str:
    body = "99999999999"
    return body + damm_digit(body)


def status(t: Tube) -> str:
    return Tube.objects.get(pk=t.pk).status


# --- Creating ---------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["courier_a", "sampler_a", "admin"])
def test_site_staff_create_a_shipment(world, persona):
    s = shipment(world, user=persona)
    assert (s.status, s.site, s.lab, s.campaign) == (
        ShipmentStatus.PACKING, world.site_a, world.lab_a, world.campaign,
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="shipment.created", subject_id=str(s.pk)).count() == 1


@pytest.mark.parametrize("persona", ["labtech_a", "labsupervisor_a", "ward_a", "nobody"])
def test_others_cannot_create_a_shipment(world, persona):
    with pytest.raises(PermissionDenied):
        shipment(world, user=persona)
    assert not Shipment.objects.exists()


def test_a_courier_cannot_ship_from_another_site(world):
    with pytest.raises(PermissionDenied):
        shipment(world, site=world.site_b)


def test_create_is_idempotent_on_client_id(world):
    client_id = uuid.uuid4()
    by = world.users["courier_a"]
    first = services.create_shipment(by=by, site=world.site_a, lab=world.lab_a, client_id=client_id)
    again = services.create_shipment(by=by, site=world.site_a, lab=world.lab_a, client_id=client_id)
    assert first.pk == again.pk and Shipment.objects.count() == 1
    with pytest.raises(ValidationError):
        services.create_shipment(by=by, site=world.site_a, lab=world.lab_b, client_id=client_id)


# --- Packing ----------------------------------------------------------------------------


def refusal(world, s, code):
    with pytest.raises(ShippingError) as caught:
        services.add_tube(by=world.users["courier_a"], shipment=s, code=code)
    return caught.value.reason, caught.value.text


def test_a_closed_tube_goes_in_once(world):
    s, t = shipment(world), tube(world)
    by = world.users["courier_a"]
    added = services.add_tube(by=by, shipment=s, code=f" {t.code[:4]} {t.code[4:]}\n")
    assert added.added and added.tube == t
    again = services.add_tube(by=by, shipment=s, code=t.code)
    assert not again.added and again.message == f"Tube {t.code} is already in this shipment."
    assert ShipmentTube.objects.filter(shipment=s, active=True).count() == 1


def test_an_open_tube_is_refused_with_the_reason(world):
    s, t = shipment(world), tube(world, status=TubeStatus.OPEN)
    reason, text = refusal(world, s, t.code)
    assert reason == Reason.OPEN
    assert text == f"Tube {t.code} is still open. Close it at the station before it can be shipped."
    assert not ShipmentTube.objects.exists()


def test_a_mistyped_code_is_called_mistyped(world):
    s, t = shipment(world), tube(world)
    reason, text = refusal(world, s, mistype(t.code))
    assert reason == Reason.MISTYPED and "mistyped" in text


def test_a_dropped_digit_is_called_a_typing_slip(world):
    s, t = shipment(world), tube(world)
    reason, text = refusal(world, s, t.code[:-1])
    assert reason == Reason.WRONG_LENGTH
    assert text.startswith(f"{t.code[:-1]} has 11 digits; tube labels have 12.")
    with pytest.raises(ShippingError):
        scan(world, in_transit(world, [tube(world)]), t.code[1:])


def test_refusals(world):
    s = shipment(world)
    assert refusal(world, s, unknown_code())[0] == Reason.UNKNOWN
    assert refusal(world, s, tube(world, site=world.site_b).code)[0] == Reason.OTHER_SITE
    assert refusal(world, s, tube(world, site=other_campaign_site(world)).code)[0] == (
        Reason.OTHER_CAMPAIGN
    )
    voided = tube(world, status=TubeStatus.OPEN)
    Tube.objects.filter(pk=voided.pk).update(status=TubeStatus.VOID)
    assert refusal(world, s, voided.code)[0] == Reason.VOID
    elsewhere = tube(world)
    services.add_tube(by=world.users["sampler_a"], shipment=shipment(world), code=elsewhere.code)
    assert refusal(world, s, elsewhere.code)[0] == Reason.ON_OTHER_SHIPMENT
    gone = tube(world)
    in_transit(world, [gone])
    assert refusal(world, s, gone.code)[0] == Reason.ON_OTHER_SHIPMENT
    assert not ShipmentTube.objects.filter(shipment=s).exists()


def test_remove_then_add_again(world):
    s, t = shipment(world), tube(world)
    by = world.users["courier_a"]
    services.add_tube(by=by, shipment=s, code=t.code)
    services.remove_tube(by=by, shipment=s, code=t.code)
    assert not ShipmentTube.objects.filter(active=True).exists()
    with pytest.raises(ShippingError):
        services.remove_tube(by=by, shipment=s, code=t.code)
    assert services.add_tube(by=by, shipment=s, code=t.code).added
    assert ShipmentTube.objects.filter(tube=t).count() == 2


def test_a_batch_is_all_or_nothing(world):
    s = shipment(world)
    good, open_ = tube(world), tube(world, status=TubeStatus.OPEN)
    by = world.users["courier_a"]
    with pytest.raises(ValidationError) as caught:
        services.add_tubes(by=by, shipment=s, codes=[good.code, open_.code, mistype(good.code)])
    assert len(caught.value.error_list) == 2
    assert not ShipmentTube.objects.exists()
    assert services.add_tubes(by=by, shipment=s, codes=[good.code]) == (1, 0)
    assert services.add_tubes(by=by, shipment=s, codes=[good.code, good.code]) == (0, 1)


# --- Hand-over and cancel -------------------------------------------------------------------


def test_an_empty_shipment_cannot_be_handed_over(world):
    s = shipment(world)
    with pytest.raises(ShippingError) as caught:
        services.hand_over(by=world.users["courier_a"], shipment=s)
    assert caught.value.reason == Reason.EMPTY
    assert Shipment.objects.get().status == ShipmentStatus.PACKING


def test_hand_over_ships_every_tube_and_is_idempotent(world):
    ts = tubes(world, 3)
    s = in_transit(world, ts)
    assert s.status == ShipmentStatus.IN_TRANSIT and s.courier_name == "Anh Tư"
    assert s.handed_over_by == world.users["courier_a"] and s.handed_over_at is not None
    assert {status(t) for t in ts} == {TubeStatus.SHIPPED}
    again = services.hand_over(by=world.users["courier_a"], shipment=s)
    assert again.handed_over_at == s.handed_over_at
    with pytest.raises(ShippingError):
        services.add_tube(by=world.users["courier_a"], shipment=s, code=tube(world).code)
    with pytest.raises(ShippingError):
        services.cancel(by=world.users["courier_a"], shipment=s)


def test_cancel_frees_the_tubes(world):
    s, t = shipment(world), tube(world)
    by = world.users["courier_a"]
    services.add_tube(by=by, shipment=s, code=t.code)
    services.cancel(by=by, shipment=s)
    s.refresh_from_db()
    assert s.status == ShipmentStatus.CANCELLED and s.cancelled_at is not None
    assert not ShipmentTube.objects.filter(active=True).exists()
    assert status(t) == TubeStatus.CLOSED
    assert services.add_tube(by=by, shipment=shipment(world), code=t.code).added


PAIRS = list(itertools.product(ShipmentStatus.values, repeat=2))


@pytest.mark.parametrize(("start", "to"), PAIRS, ids=[f"{a}>{b}" for a, b in PAIRS])
def test_every_transition(world, start, to):
    s = shipment(world)
    Shipment.objects.filter(pk=s.pk).update(status=start)
    s.status = start
    by = world.users["admin"]
    if to in ALLOWED_TRANSITIONS[start]:
        services.transition(s, to, by=by)
        assert Shipment.objects.get().status == to
        assert AuditEvent.objects.filter(action=f"shipment.{to}").count() == 1
    else:
        with pytest.raises(services.InvalidTransition):
            services.transition(s, to, by=by)
        assert Shipment.objects.get().status == start


def test_a_stale_transition_changes_nothing(world):
    s = shipment(world)
    stale = Shipment.objects.get(pk=s.pk)
    services.transition(s, ShipmentStatus.CANCELLED, by=world.users["admin"])
    with pytest.raises(services.InvalidTransition):
        services.transition(stale, ShipmentStatus.IN_TRANSIT, by=world.users["admin"])
    assert Shipment.objects.get().status == ShipmentStatus.CANCELLED


# --- Receipt -----------------------------------------------------------------------------------


def scan(world, s, code, user="labtech_a"):
    return services.scan_at_receipt(by=world.users[user], shipment=s, code=code)


def test_receipt_with_missing_unexpected_other_campaign_and_open_tubes(world):
    found1, found2, missing = tubes(world, 3)
    s = in_transit(world, [found1, found2, missing])
    stray = tube(world)  # same campaign, never shipped
    other = tube(world, site=other_campaign_site(world))
    open_ = tube(world, status=TubeStatus.OPEN)
    ghost = unknown_code()
    answers = [scan(world, s, c).kind for c in (found1.code, found2.code, stray.code,
                                                 other.code, open_.code, ghost)]  # fmt: skip
    assert answers == ["found", "found", "unexpected", "other_campaign", "not_closed",
                       "unknown_label"]  # fmt: skip
    assert scan(world, s, found1.code).duplicate
    with pytest.raises(ShippingError) as caught:
        scan(world, s, mistype(found1.code))
    assert caught.value.reason == Reason.MISTYPED

    state = queries.receipt_state(s)
    assert (state.found, state.missing) == (sorted([found1.code, found2.code]), [missing.code])
    assert (state.unexpected, state.other_campaign, state.not_closed, state.unknown) == (
        [stray.code], [other.code], [open_.code], [ghost],
    )  # fmt: skip

    receipt = services.receive(by=world.users["labtech_a"], shipment=s)
    assert receipt.received == 2 and not receipt.already
    assert receipt.discrepancies == {
        DiscrepancyKind.MISSING: [missing.code],
        DiscrepancyKind.NOT_CLOSED: [open_.code],
        DiscrepancyKind.OTHER_CAMPAIGN: [other.code],
        DiscrepancyKind.UNEXPECTED: [stray.code],
        DiscrepancyKind.UNKNOWN_LABEL: [ghost],
    }
    assert [status(t) for t in (found1, found2, missing, stray, other, open_)] == [
        TubeStatus.RECEIVED, TubeStatus.RECEIVED, TubeStatus.SHIPPED,
        TubeStatus.CLOSED, TubeStatus.CLOSED, TubeStatus.OPEN,
    ]  # fmt: skip
    s.refresh_from_db()
    assert s.status == ShipmentStatus.RECEIVED and s.received_by == world.users["labtech_a"]
    assert set(queries.tubes_at_lab(world.lab_a)) == {found1, found2}
    assert not queries.tubes_at_lab(world.lab_b).exists()

    # A retried receive changes nothing and answers the first receipt.
    again = services.receive(by=world.users["labsupervisor_a"], shipment=s, codes=[missing.code])
    assert again.already and again.discrepancies == receipt.discrepancies
    assert status(missing) == TubeStatus.SHIPPED
    assert ReceiptDiscrepancy.objects.count() == 5

    # The missing tube turns up later.
    late = services.receive_late_tube(by=world.users["labtech_a"], shipment=s, code=missing.code)
    assert late.status == TubeStatus.RECEIVED == status(missing)
    assert services.discrepancies_of(s).get(DiscrepancyKind.MISSING) is None
    assert ReceiptDiscrepancy.objects.get(kind="missing").resolved_at is not None
    assert set(queries.tubes_at_lab(world.lab_a)) == {found1, found2, missing}
    with pytest.raises(ShippingError):
        services.receive_late_tube(by=world.users["labtech_a"], shipment=s, code=missing.code)


def test_receive_with_a_list_of_codes_is_atomic(world):
    ts = tubes(world, 2)
    s = in_transit(world, ts)
    with pytest.raises(ValidationError):
        services.receive(
            by=world.users["labtech_a"], shipment=s, codes=[ts[0].code, mistype(ts[1].code)]
        )
    assert Shipment.objects.get().status == ShipmentStatus.IN_TRANSIT
    assert not ReceiptDiscrepancy.objects.exists()
    receipt = services.receive(by=world.users["labtech_a"], shipment=s, codes=[t.code for t in ts])
    assert receipt.received == 2 and receipt.discrepancies == {}


def test_a_tube_in_the_wrong_box_counts_for_its_own_shipment(world):
    mine, theirs = tube(world), tube(world)
    s1, s2 = in_transit(world, [mine]), in_transit(world, [theirs])
    labtech = world.users["labtech_a"]
    receipt = services.receive(by=labtech, shipment=s1, codes=[mine.code, theirs.code])
    assert receipt.discrepancies == {DiscrepancyKind.UNEXPECTED: [theirs.code]}
    assert status(theirs) == TubeStatus.SHIPPED  # until its own shipment is received
    second = services.receive(by=labtech, shipment=s2)
    assert second.received == 1 and second.discrepancies == {}
    assert status(theirs) == TubeStatus.RECEIVED


@pytest.mark.parametrize("persona", ["courier_a", "labtech_b", "sampler_a"])
def test_only_the_destination_lab_receives(world, persona):
    s = in_transit(world, [tube(world)])
    with pytest.raises(PermissionDenied):
        services.receive(by=world.users[persona], shipment=s)
    with pytest.raises(PermissionDenied):
        scan(world, s, tube(world).code, user=persona)
    assert Shipment.objects.get().status == ShipmentStatus.IN_TRANSIT


def test_receive_is_set_based(world):
    """The same number of queries for 3 tubes and for 30 (the first round loads the
    user's grants)."""
    counts = []
    for size in (1, 3, 30):
        ts = tubes(world, size, people=1)
        s = in_transit(world, ts)
        with CaptureQueriesContext(connection) as ctx:
            services.receive(by=world.users["labtech_a"], shipment=s, codes=[t.code for t in ts])
        counts.append(len(ctx.captured_queries))
        assert {status(t) for t in ts} == {TubeStatus.RECEIVED}
    assert counts[1] == counts[2]


def test_hand_over_is_set_based(world):
    counts = []
    for size in (1, 3, 30):
        s = shipment(world)
        by = world.users["courier_a"]
        services.add_tubes(by=by, shipment=s, codes=[t.code for t in tubes(world, size, people=1)])
        with CaptureQueriesContext(connection) as ctx:
            services.hand_over(by=by, shipment=s)
        counts.append(len(ctx.captured_queries))
    assert counts[1] == counts[2]


# --- Rejection ---------------------------------------------------------------------------------


def test_a_rejected_tube_makes_its_people_recollect(world):
    from swabline.results.models import Outcome

    t = tube(world, people=3)
    s = in_transit(world, [t])
    services.receive(by=world.users["labtech_a"], shipment=s, codes=[t.code])
    rejection = services.reject_tube(
        by=world.users["labtech_a"], lab=world.lab_a, code=t.code, reason="leaked"
    )
    assert rejection.tube == t and status(t) == TubeStatus.REJECTED
    outcomes = Outcome.objects.filter(tube=t, current=True)
    assert sorted(outcomes.values_list("state", flat=True)) == ["recollect"] * 3
    with pytest.raises(ShippingError) as caught:
        services.reject_tube(
            by=world.users["labtech_a"], lab=world.lab_a, code=t.code, reason="leaked"
        )
    assert caught.value.reason == Reason.ALREADY_REJECTED


def test_a_tube_can_be_rejected_while_the_box_is_opened(world):
    bad, good = tube(world), tube(world)
    s = in_transit(world, [bad, good])
    scan(world, s, bad.code)
    scan(world, s, good.code)
    services.reject_tube(
        by=world.users["labtech_a"], lab=world.lab_a, code=bad.code, reason="other", note="vỡ nắp"
    )
    receipt = services.receive(by=world.users["labtech_a"], shipment=s)
    assert receipt.received == 1 and receipt.discrepancies == {}
    assert (status(bad), status(good)) == (TubeStatus.REJECTED, TubeStatus.RECEIVED)
    assert TubeRejection.objects.get().note == "vỡ nắp"


def test_rejection_rules(world):
    t = tube(world)
    s = in_transit(world, [t])
    labtech = world.users["labtech_a"]
    with pytest.raises(ShippingError) as caught:
        services.reject_tube(by=labtech, lab=world.lab_a, code=t.code, reason="other")
    assert caught.value.reason == Reason.NOTE_NEEDED
    with pytest.raises(ShippingError) as caught:
        services.reject_tube(by=labtech, lab=world.lab_a, code=tube(world).code, reason="leaked")
    assert caught.value.reason == Reason.NOT_AT_LAB
    with pytest.raises(PermissionDenied):
        services.reject_tube(
            by=world.users["labtech_b"], lab=world.lab_a, code=t.code, reason="leaked"
        )
    with pytest.raises(ShippingError):  # lab B never got it
        services.reject_tube(
            by=world.users["labtech_b"], lab=world.lab_b, code=t.code, reason="leaked"
        )
    assert status(t) == TubeStatus.SHIPPED and s.status == ShipmentStatus.IN_TRANSIT
    assert not TubeRejection.objects.exists()
