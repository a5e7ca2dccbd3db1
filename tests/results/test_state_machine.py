"""A Hypothesis state machine drives tubes through every allowed and forbidden
transition — open, fill, close, cancel (the station's services), ship, receive,
reject (the shipping services, which call the results service), enter (the labs
service), release, correct (the results services), and every forbidden status
change through the tube transition function — and checks the invariants after
every step:

- every sampled person has exactly one current outcome (derived), and a stored one
  once a tube of theirs is released or rejected;
- nobody in a positive pool is ever negative without an individual negative;
- a closed tube's members never change;
- forbidden transitions raise and change nothing.

Each example runs inside a transaction rolled back at its end, on one world.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from swabline.labs import services as labs
from swabline.labs.enums import ResultState
from swabline.labs.models import TubeResult
from swabline.results import services
from swabline.results.enums import OutcomeState
from swabline.results.models import Outcome
from swabline.results.queries import current_outcomes
from swabline.sampling import services as sampling
from swabline.sampling.enums import ALLOWED_TRANSITIONS, SampleKind, TubeKind, TubeStatus
from swabline.sampling.models import Sample, Tube
from swabline.sampling.services import InvalidTransition
from swabline.shipping import services as shipping
from swabline.shipping.models import ShipmentTube
from tests.factories import PersonFactory
from tests.sampling.factories import labels

pytestmark = pytest.mark.django_db

VALUES = ("negative", "positive", "invalid")
STATUSES = [s.value for s in TubeStatus]


class LabChain(RuleBasedStateMachine):
    world: Any = None

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.tubes: list[int] = []
        self.people: list[int] = []
        self.frozen: dict[int, list[tuple[int, int]]] = {}  # tube → members when closed
        self.admin = self.world.users["admin"]
        self.tech = self.world.users["labtech_a"]
        self.supervisor = self.world.users["labsupervisor_a"]

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ----------------------------------------------------------------

    def _tube(self, i: int) -> Tube:
        return Tube.objects.select_related("site__ward").get(pk=self.tubes[i % len(self.tubes)])

    def _pick(self, i: int, *statuses: str) -> Tube | None:
        """The i-th (modulo) of this example's tubes in one of `statuses`."""
        found = list(
            Tube.objects.select_related("site__ward")
            .filter(pk__in=self.tubes, status__in=statuses)
            .order_by("id")
        )
        return found[i % len(found)] if found else None

    def _members(self, tube_id: int) -> list[tuple[int, int]]:
        return list(
            Sample.objects.filter(tube_id=tube_id, active=True)
            .order_by("position")
            .values_list("person_id", "position")
        )

    def _snapshot(self) -> tuple[Any, ...]:
        return (
            list(Tube.objects.order_by("id").values_list("id", "status", "member_count")),
            list(Sample.objects.order_by("id").values_list("id", "active")),
            list(TubeResult.objects.order_by("id").values_list("id", "state", "current")),
            list(Outcome.objects.order_by("id").values_list("id", "state", "current")),
        )

    def _move(self, tube: Tube, to: str) -> None:
        sampling.transition(tube, to, by=self.admin)

    # --- station ----------------------------------------------------------------

    @initialize(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3))
    def start_the_day(self, sizes: list[int]) -> None:
        """A few pools already filled, so the lab has work from the first step."""
        for size in sizes:
            self.open_tube(False)
            self.fill_tube(len(self.tubes) - 1, size)

    @precondition(lambda self: self.tubes)
    @rule(
        i=st.integers(0, 50),
        value=st.sampled_from(VALUES),
        release=st.booleans(),
        steps=st.integers(1, 4),
    )
    def advance(self, i: int, value: str, release: bool, steps: int) -> None:
        """One tube `steps` steps down the chain: close, ship+receive, enter (+release)."""
        for _ in range(steps):
            self._advance_one(i, value, release)

    @precondition(lambda self: self.tubes)
    @rule(i=st.integers(0, 50), value=st.sampled_from(VALUES), reject=st.booleans())
    def through_the_lab(self, i: int, value: str, reject: bool) -> None:
        """One tube all the way: closed, shipped, received, then rejected or resulted
        and released — a whole lab day in one step, so examples reach the outcomes."""
        tube = self._pick(
            i, TubeStatus.OPEN, TubeStatus.CLOSED, TubeStatus.SHIPPED, TubeStatus.RECEIVED
        )
        if tube is None or (tube.status == TubeStatus.OPEN and not tube.member_count):
            return
        while tube.status != TubeStatus.RECEIVED:
            self._step(tube, value, False)
            tube.refresh_from_db()
        if reject:
            code = tube.code
            shipping.reject_tube(by=self.tech, lab=self.world.lab_a, code=code, reason="leaked")
            event("tube rejected")
        else:
            self._step(tube, value, True)

    def _advance_one(self, i: int, value: str, release: bool) -> None:
        tube = self._pick(
            i, TubeStatus.OPEN, TubeStatus.CLOSED, TubeStatus.SHIPPED, TubeStatus.RECEIVED
        )
        if tube is not None:
            self._step(tube, value, release)

    def _step(self, tube: Tube, value: str, release: bool) -> None:
        """`tube` one step down the chain (an empty open tube stays)."""
        if tube.status == TubeStatus.OPEN:
            if tube.member_count:
                self._move(tube, TubeStatus.CLOSED)
        elif tube.status in (TubeStatus.CLOSED, TubeStatus.SHIPPED):
            self._ship_receive(tube)
        else:
            self._enter(tube, value)
            if release:
                result = TubeResult.objects.get(tube=tube, current=True)
                services.release_results(
                    by=self.supervisor, lab=self.world.lab_a, result_ids=[result.pk]
                )
                event("results released")

    @precondition(lambda self: len(self.tubes) < 8)
    @rule(individual=st.booleans())
    def open_tube(self, individual: bool) -> None:
        [code] = labels(self.world)
        kind = TubeKind.INDIVIDUAL if individual else TubeKind.POOL
        result = sampling.open_tube(
            by=self.admin, site=self.world.site_a, code=code, at=timezone.now(),
            event_id=uuid.uuid4(), kind=kind,
        )  # fmt: skip
        assert result.fate == "applied", result.reason
        self.tubes.append(Tube.objects.get(code=code).pk)

    @precondition(lambda self: self.tubes)
    @rule(i=st.integers(0, 50), count=st.integers(1, 4))
    def fill_tube(self, i: int, count: int) -> None:
        """New people into an open tube (what most of a campaign day is)."""
        tube = self._pick(i, TubeStatus.OPEN)
        if tube is None:
            return
        for _ in range(count):
            self.people.append(PersonFactory.create(ward=self.world.ward_a).pk)
            person = PersonFactory._meta.model.objects.get(pk=self.people[-1])
            sampling.add_person(
                by=self.admin, tube=tube, person=person, at=timezone.now(), event_id=uuid.uuid4()
            )

    @precondition(lambda self: self.tubes)
    @rule(
        i=st.integers(0, 50),
        who=st.integers(0, 50),
        new=st.booleans(),
        kind=st.sampled_from([SampleKind.NORMAL, SampleKind.RECALL, SampleKind.RECOLLECT]),
    )
    def add_person(self, i: int, who: int, new: bool, kind: str) -> None:
        # Mostly into an open tube; sometimes into any (a closed one must refuse).
        tube = (self._pick(i, TubeStatus.OPEN) if i % 5 else None) or self._tube(i)
        if new or not self.people:
            self.people.append(PersonFactory.create(ward=self.world.ward_a).pk)
            who = len(self.people) - 1
        person = PersonFactory._meta.model.objects.get(pk=self.people[who % len(self.people)])
        before = self._snapshot() if tube.status != TubeStatus.OPEN else None
        result = sampling.add_person(
            by=self.admin, tube=tube, person=person, at=timezone.now(), event_id=uuid.uuid4(),
            kind=kind, override=kind != SampleKind.NORMAL,
        )  # fmt: skip
        if before is not None:
            assert result.fate == "conflict"
            assert self._snapshot() == before

    @precondition(lambda self: self.tubes)
    @rule(i=st.integers(0, 50))
    def void_tube(self, i: int) -> None:
        tube = self._pick(i, TubeStatus.OPEN)
        if tube is not None and i % 3 == 0:  # cancel rarely
            self._move(tube, TubeStatus.VOID)
            assert not Sample.objects.filter(tube=tube, active=True).exists()

    # --- shipping and the lab ------------------------------------------------------

    def _ship_receive(self, tube: Tube) -> None:
        """The shipping services: pack and hand over (closed → shipped), then the lab
        receives the box (shipped → received)."""
        lab = self.world.lab_a
        if tube.status == TubeStatus.CLOSED:
            courier = self.world.users["courier_a"]
            box = shipping.create_shipment(by=courier, site=tube.site, lab=lab)
            shipping.add_tubes(by=courier, shipment=box, codes=[tube.code])
            shipping.hand_over(by=courier, shipment=box)
            return
        box = ShipmentTube.objects.get(tube=tube, active=True).shipment
        shipping.receive(by=self.tech, shipment=box, codes=[tube.code])

    @precondition(lambda self: self.tubes)
    @rule(i=st.integers(0, 50))
    def reject(self, i: int) -> None:
        tube = self._pick(i, TubeStatus.SHIPPED, TubeStatus.RECEIVED)
        if tube is None or i % 3:  # reject rarely
            return
        # shipping.reject_tube moves it and calls services.record_rejection inside.
        shipping.reject_tube(by=self.tech, lab=self.world.lab_a, code=tube.code, reason="leaked")
        event("tube rejected")
        assert Tube.objects.get(pk=tube.pk).status == TubeStatus.REJECTED

    def _enter(self, tube: Tube, value: str) -> None:
        """The bench's service: a result entered, the tube received → resulted."""
        labs.record_result(by=self.tech, lab=self.world.lab_a, value=value, tube=tube)

    @rule(take=st.integers(1, 5), retry=st.booleans())
    def release(self, take: int, retry: bool) -> None:
        ids = list(
            TubeResult.objects.filter(state=ResultState.ENTERED, current=True).values_list(
                "id", flat=True
            )[:take]
        )
        client_id = uuid.uuid4()
        first = services.release_results(
            by=self.supervisor, lab=self.world.lab_a, result_ids=ids, client_id=client_id
        )
        assert first.tubes == len(ids)
        if ids:
            event("results released")
        if retry:
            count = Outcome.objects.count()
            again = services.release_results(
                by=self.supervisor, lab=self.world.lab_a, result_ids=ids, client_id=client_id
            )
            assert again.pk == first.pk and Outcome.objects.count() == count

    @rule(i=st.integers(0, 50), value=st.sampled_from(VALUES))
    def amend(self, i: int, value: str) -> None:
        results = list(TubeResult.objects.filter(current=True).order_by("id"))
        if not results:
            return
        result = results[i % len(results)]
        if result.state != ResultState.RELEASED:
            before = self._snapshot()
            with pytest.raises(ValidationError):
                services.amend_result(by=self.supervisor, result=result, value=value, reason="x")
            assert self._snapshot() == before
            return
        new = services.amend_result(
            by=self.supervisor, result=result, value=value, reason="Sửa kết quả"
        )
        assert new.amends_id == result.pk
        event("result corrected")

    @precondition(lambda self: self.tubes)
    @rule(i=st.integers(0, 50), to=st.sampled_from(STATUSES))
    def forbidden_transition(self, i: int, to: str) -> None:
        tube = self._tube(i)
        if to in ALLOWED_TRANSITIONS[tube.status]:
            return
        before = self._snapshot()
        with pytest.raises(InvalidTransition):
            self._move(tube, to)
        assert self._snapshot() == before

    # --- invariants ----------------------------------------------------------------

    @invariant()
    def closed_tubes_keep_their_members(self) -> None:
        for tube_id, status in Tube.objects.filter(pk__in=self.tubes).values_list("id", "status"):
            if status in (TubeStatus.OPEN, TubeStatus.VOID):
                continue
            members = self._members(tube_id)
            assert self.frozen.setdefault(tube_id, members) == members

    @invariant()
    def every_sampled_person_has_one_current_outcome(self) -> None:
        if not self.people:
            return
        derived = current_outcomes(self.people, self.world.campaign)
        sampled = set(
            Sample.objects.filter(person_id__in=self.people, active=True).values_list(
                "person_id", flat=True
            )
        )
        decided = set(
            Sample.objects.filter(
                person_id__in=self.people,
                active=True,
                tube__status__in=[TubeStatus.RELEASED, TubeStatus.REJECTED],
            ).values_list("person_id", flat=True)
        )
        current: dict[int, int] = {}
        for pid in Outcome.objects.filter(person_id__in=self.people, current=True).values_list(
            "person_id", flat=True
        ):
            current[pid] = current.get(pid, 0) + 1
        for pid in self.people:
            assert current.get(pid, 0) <= 1
            if pid in decided:
                assert current.get(pid) == 1, pid
            if pid in sampled:
                assert derived[pid] != OutcomeState.NOT_SAMPLED
            elif pid not in current:
                assert derived[pid] == OutcomeState.NOT_SAMPLED

    @invariant()
    def nobody_in_a_positive_pool_is_negative_without_an_individual_negative(self) -> None:
        if not self.people:
            return
        derived = current_outcomes(self.people, self.world.campaign)
        negatives = [pid for pid, state in derived.items() if state == OutcomeState.NEGATIVE]
        for pid in negatives:
            released = TubeResult.objects.filter(
                current=True, state=ResultState.RELEASED, tube__samples__person_id=pid,
                tube__samples__active=True,
            )  # fmt: skip
            if released.filter(tube__kind=TubeKind.POOL, value="positive").exists():
                assert released.filter(tube__kind=TubeKind.INDIVIDUAL, value="negative").exists()


def test_lab_chain_state_machine(world):
    from hypothesis.stateful import run_state_machine_as_test

    LabChain.world = world
    run_state_machine_as_test(
        LabChain,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
