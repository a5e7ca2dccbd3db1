"""Races on PostgreSQL: one tube packed into two shipments at once, one shipment
received twice at once. The database decides (partial unique index, row locks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from swabline.sampling.enums import TubeStatus
from swabline.sampling.models import Tube
from swabline.shipping import services
from swabline.shipping.messages import ShippingError
from swabline.shipping.models import ReceiptDiscrepancy, ShipmentTube
from tests.shipping.helpers import in_transit, shipment, tube

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run `calls` in threads released at the same moment; their results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # the test inspects it
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_one_tube_packed_twice_at_once(world):
    t = tube(world)
    first, second = shipment(world), shipment(world, user="sampler_a")
    courier, sampler = world.users["courier_a"], world.users["sampler_a"]
    outcomes = together(
        lambda: services.add_tube(by=courier, shipment=first, code=t.code),
        lambda: services.add_tube(by=sampler, shipment=second, code=t.code),
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Added", "ShippingError"]
    assert [o.reason for o in outcomes if isinstance(o, ShippingError)] == ["on_other_shipment"]
    assert ShipmentTube.objects.filter(tube=t, active=True).count() == 1


def test_one_shipment_received_twice_at_once(world):
    found, missing = tube(world), tube(world)
    s = in_transit(world, [found, missing])
    a, b = world.users["labtech_a"], world.users["labsupervisor_a"]
    outcomes = together(
        lambda: services.receive(by=a, shipment=s, codes=[found.code]),
        lambda: services.receive(by=b, shipment=s, codes=[found.code]),
    )
    assert sorted(o.already for o in outcomes) == [False, True]
    assert all(o.received == 1 for o in outcomes)
    assert ReceiptDiscrepancy.objects.count() == 1
    assert Tube.objects.get(pk=found.pk).status == TubeStatus.RECEIVED
