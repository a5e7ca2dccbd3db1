"""Release, rejection and correction: the pool logic, superseding, idempotency, access."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from swabline.audit.models import AuditEvent
from swabline.labs.enums import ResultState
from swabline.labs.models import TubeResult
from swabline.results import services
from swabline.results.enums import ReleaseKind
from swabline.results.logic import POOL_LOGIC, outcome_for
from swabline.results.models import Outcome, Release
from swabline.results.queries import current_outcome
from swabline.sampling import services as sampling
from swabline.sampling.enums import SampleKind, TubeKind, TubeStatus
from swabline.sampling.models import Tube
from tests.results.helpers import enter, receive, release, released, resulted, tube_with
from tests.sampling.factories import people

pytestmark = pytest.mark.django_db


def states(tube):
    """{person id: current stored state} of the tube's members."""
    ids = tube.samples.filter(active=True).values_list("person_id", flat=True)
    return dict(
        Outcome.objects.filter(person_id__in=ids, current=True).values_list("person_id", "state")
    )


def state_of(person, world):
    return str(current_outcome(person, world.campaign))


def recall_tube(world, person, value):
    """The person's individual recall tube, released with `value`."""
    return released(world, value, [person], kind=TubeKind.INDIVIDUAL, sample_kind=SampleKind.RECALL)


# --- The table ---------------------------------------------------------------------


def test_the_table_covers_every_kind_and_value():
    assert outcome_for("pool", "negative") == "negative"
    assert outcome_for("pool", "positive") == "recall"
    assert outcome_for("pool", "invalid") == "recollect"
    assert outcome_for("individual", "positive") == "positive"
    assert outcome_for("individual", "invalid") == "recollect"
    assert outcome_for("pool", None) == "recollect"
    assert len(POOL_LOGIC) == 6


# --- Release -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (TubeKind.POOL, "negative", "negative"),
        (TubeKind.POOL, "positive", "recall"),
        (TubeKind.POOL, "invalid", "recollect"),
        (TubeKind.INDIVIDUAL, "negative", "negative"),
        (TubeKind.INDIVIDUAL, "positive", "positive"),
        (TubeKind.INDIVIDUAL, "invalid", "recollect"),
    ],
)
def test_release_gives_every_member_the_pool_logic_outcome(world, kind, value, expected):
    count = 1 if kind == TubeKind.INDIVIDUAL else 4
    result = resulted(world, value, count, kind=kind)
    rel = release(world, result)
    assert (rel.kind, rel.tubes, rel.people, rel.lab) == ("release", 1, count, world.lab_a)
    tube = Tube.objects.get(pk=result.tube_id)
    assert tube.status == TubeStatus.RELEASED
    assert set(states(tube).values()) == {expected} and len(states(tube)) == count
    result.refresh_from_db()
    assert (result.state, result.release, result.released_by) == (
        ResultState.RELEASED,
        rel,
        world.users["labsupervisor_a"],
    )
    assert result.released_at == rel.released_at
    rows = Outcome.objects.filter(release=rel)
    assert {(o.tube_id, o.result_id, o.province_code) for o in rows} == {
        (tube.pk, result.pk, world.ward_a.province_code)
    }


def test_release_is_atomic_set_and_counts_many_tubes(world):
    results = [resulted(world, v, 3) for v in ("negative", "positive", "invalid", "negative")]
    rel = release(world, *results)
    assert (rel.tubes, rel.people) == (4, 12)
    assert Outcome.objects.filter(release=rel).count() == 12
    [event] = AuditEvent.objects.filter(action="results.released")
    assert event.data == {
        "lab": world.lab_a.code,
        "tubes": 4,
        "people": 12,
        "requested": 4,
    }
    assert event.subject_id == str(rel.pk)


def test_a_retried_release_returns_the_same_release_and_writes_nothing(world):
    result = resulted(world, "negative", 3)
    client_id = uuid.uuid4()
    by, lab = world.users["labsupervisor_a"], world.lab_a
    first = services.release_results(by=by, lab=lab, result_ids=[result.pk], client_id=client_id)
    again = services.release_results(by=by, lab=lab, result_ids=[result.pk], client_id=client_id)
    assert again.pk == first.pk and (again.tubes, again.people) == (1, 3)
    assert Outcome.objects.count() == 3 and Release.objects.count() == 1


def test_already_released_results_are_skipped_never_doubled(world):
    result = resulted(world, "negative", 3)
    release(world, result)
    second = release(world, result)
    assert (second.tubes, second.people) == (0, 0)
    assert Outcome.objects.count() == 3


def test_only_entered_results_of_resulted_tubes_of_that_lab_are_released(world):
    other_lab = resulted(world, "negative", 2)
    TubeResult.objects.filter(pk=other_lab.pk).update(lab=world.lab_b)
    discarded = resulted(world, "negative", 2)
    TubeResult.objects.filter(pk=discarded.pk).update(state=ResultState.DISCARDED, current=False)
    good = resulted(world, "negative", 2)
    rel = services.release_results(
        by=world.users["labsupervisor_a"],
        lab=world.lab_a,
        result_ids=[other_lab.pk, discarded.pk, good.pk, 999_999],
    )
    assert (rel.tubes, rel.people) == (1, 2)
    assert Tube.objects.get(pk=other_lab.tube_id).status == TubeStatus.RESULTED


@pytest.mark.parametrize("user", ["labtech_a", "ward_a", "nobody", "labtech_b"])
def test_only_a_supervisor_of_that_lab_releases(world, user):
    result = resulted(world, "negative", 2)
    with pytest.raises(PermissionDenied):
        release(world, result, user=user)
    assert Outcome.objects.count() == 0
    assert TubeResult.objects.get(pk=result.pk).state == ResultState.ENTERED


def test_an_empty_release_is_recorded_but_changes_nothing(world):
    rel = services.release_results(
        by=world.users["labsupervisor_a"], lab=world.lab_a, result_ids=[]
    )
    assert (rel.tubes, rel.people) == (0, 0)


# --- Superseding and the recall list --------------------------------------------------


def test_recall_then_individual_result_supersedes_and_keeps_history(world):
    pool = released(world, "positive", 3)
    a, b, c = [s.person for s in pool.tube.samples.order_by("position")]
    assert state_of(a, world) == "recall"
    indiv = recall_tube(world, a, "negative")
    assert state_of(a, world) == "negative"
    history = list(Outcome.objects.filter(person=a).order_by("id").values_list("state", "current"))
    assert history == [("recall", False), ("negative", True)]
    old = Outcome.objects.get(person=a, state="recall")
    assert old.superseded_at is not None
    assert Outcome.objects.get(person=a, current=True).tube_id == indiv.tube_id
    assert (state_of(b, world), state_of(c, world)) == ("recall", "recall")
    recall_tube(world, b, "positive")
    assert state_of(b, world) == "positive"


def test_a_recalled_person_resampled_stays_recall_until_the_result(world):
    pool = released(world, "positive", 2)
    a = pool.tube.samples.order_by("position")[0].person
    tube = tube_with(world, [a], kind=TubeKind.INDIVIDUAL, sample_kind=SampleKind.RECALL)
    assert state_of(a, world) == "recall"
    result = enter(world, tube, "negative")
    assert state_of(a, world) == "recall"  # entered is not released
    release(world, result)
    assert state_of(a, world) == "negative"


def test_recall_is_sticky_a_later_pool_negative_does_not_clear_it(world):
    pool = released(world, "positive", 2)
    a = pool.tube.samples.order_by("position")[0].person
    # An invalid individual recall tube: recollect, still recall-bound.
    recall_tube(world, a, "invalid")
    assert state_of(a, world) == "recollect"
    # Swabbed again into a pool that comes back negative: back on recall, not negative.
    later = released(world, "negative", [a], sample_kind=SampleKind.RECOLLECT)
    assert Outcome.objects.get(person=a, current=True).tube_id == later.tube_id
    assert state_of(a, world) == "recall"


def test_recollect_then_new_sample_is_awaiting_then_its_result(world):
    pool = released(world, "invalid", 2)
    a = pool.tube.samples.order_by("position")[0].person
    assert state_of(a, world) == "recollect"
    tube = tube_with(world, [a], sample_kind=SampleKind.RECOLLECT)
    assert state_of(a, world) == "awaiting"
    release(world, enter(world, tube, "negative"))
    assert state_of(a, world) == "negative"


def test_two_tubes_of_one_person_in_one_release_give_one_current_outcome(world):
    [a] = people(world, 1)
    pool = resulted(world, "negative", [a])
    second = resulted(world, "negative", [a], sample_kind=SampleKind.RECOLLECT)
    rel = release(world, pool, second)
    assert rel.people == 1
    assert Outcome.objects.get(person=a, current=True).tube_id == second.tube_id


def test_positive_pool_beats_a_newer_pool_negative_in_the_same_release(world):
    [a] = people(world, 1)
    pos = resulted(world, "positive", [a])
    neg = resulted(world, "negative", [a], sample_kind=SampleKind.RECOLLECT)
    release(world, pos, neg)
    assert state_of(a, world) == "recall"


def test_an_older_pool_released_late_does_not_override_a_newer_individual_result(world):
    [a] = people(world, 1)
    pool = resulted(world, "invalid", [a])
    recall_like = released(
        world, "negative", [a], kind=TubeKind.INDIVIDUAL, sample_kind=SampleKind.RECOLLECT
    )
    rel = release(world, pool)
    assert rel.people == 0
    assert Outcome.objects.get(person=a, current=True).tube_id == recall_like.tube_id


# --- Rejection ---------------------------------------------------------------------


def _reject(world, tube):
    from swabline.shipping.models import TubeRejection

    receive(world, tube)
    sampling.transition(tube, TubeStatus.REJECTED, by=world.users["labtech_a"])
    TubeRejection.objects.create(
        tube=tube, lab=world.lab_a, reason="leaked", rejected_by=world.users["labtech_a"]
    )


def test_rejected_tube_members_become_recollect(world):
    tube = tube_with(world, 3)
    _reject(world, tube)
    rel = services.record_rejection(
        by=world.users["labtech_a"], tubes=[tube], reason_label="Leaked"
    )
    assert rel is not None
    assert (rel.kind, rel.tubes, rel.people, rel.lab, rel.note) == (
        ReleaseKind.REJECTION,
        1,
        3,
        world.lab_a,
        "Leaked",
    )
    assert set(states(tube).values()) == {"recollect"}
    assert Outcome.objects.filter(release=rel, result__isnull=True).count() == 3
    assert AuditEvent.objects.filter(action="results.rejected").count() == 1


def test_rejection_needs_rejected_tubes_and_the_lab(world):
    tube = tube_with(world, 2)
    assert (
        services.record_rejection(by=world.users["labtech_a"], tubes=[], reason_label="x") is None
    )
    _reject(world, tube)
    with pytest.raises(PermissionDenied):
        services.record_rejection(by=world.users["labtech_b"], tubes=[tube], reason_label="x")
    other = tube_with(world, 2)
    receive(world, other)
    from swabline.shipping.models import TubeRejection

    TubeRejection.objects.create(
        tube=other, lab=world.lab_a, reason="leaked", rejected_by=world.users["labtech_a"]
    )
    with pytest.raises(ValidationError):
        services.record_rejection(by=world.users["labtech_a"], tubes=[other], reason_label="x")
    assert Outcome.objects.count() == 0


# --- Corrections ---------------------------------------------------------------------


def amend(world, result, value, reason="Nhầm giếng", user="labsupervisor_a"):
    return services.amend_result(by=world.users[user], result=result, value=value, reason=reason)


def test_correcting_a_negative_pool_to_positive_moves_members_to_recall(world):
    pool = released(world, "negative", 3)
    new = amend(world, pool, "positive")
    old = TubeResult.objects.get(pk=pool.pk)
    assert (old.state, old.current) == (ResultState.SUPERSEDED, False)
    assert (new.state, new.current, new.amends, new.value) == ("released", True, old, "positive")
    assert new.amendment_reason == "Nhầm giếng"
    assert new.release.kind == ReleaseKind.CORRECTION and new.release.people == 3
    assert set(states(pool.tube).values()) == {"recall"}
    assert new.release.outcomes.count() == 3  # who to tell again
    assert AuditEvent.objects.filter(action="results.amended").count() == 1


def test_correction_keeps_an_individual_result_and_tells_only_who_changed(world):
    pool = released(world, "positive", 3)
    a, b, c = [s.person for s in pool.tube.samples.order_by("position")]
    recall_tube(world, a, "positive")
    new = amend(world, pool, "negative", reason="Kiểm soát nhiễm")
    assert state_of(a, world) == "positive"  # an individual result stands
    assert (state_of(b, world), state_of(c, world)) == ("negative", "negative")
    assert set(new.release.outcomes.values_list("person_id", flat=True)) == {b.pk, c.pk}


def test_correction_with_the_same_value_changes_no_outcome(world):
    pool = released(world, "negative", 2)
    new = amend(world, pool, "negative", reason="Ct sửa")
    assert new.release.people == 0
    assert Outcome.objects.filter(current=True).count() == 2


def test_correction_of_an_individual_result(world):
    result = released(world, "negative", 1, kind=TubeKind.INDIVIDUAL)
    person = result.tube.samples.get().person
    amend(world, result, "positive")
    assert state_of(person, world) == "positive"


def test_correction_rules(world):
    pool = released(world, "negative", 2)
    with pytest.raises(ValidationError) as excinfo:
        amend(world, pool, "positive", reason="  ")
    assert "reason" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        amend(world, pool, "maybe")
    for user in ("labtech_a", "labtech_b", "ward_a"):
        with pytest.raises(PermissionDenied):
            amend(world, pool, "positive", user=user)
    entered = resulted(world, "negative", 2)
    with pytest.raises(ValidationError):
        amend(world, entered, "positive")
    new = amend(world, pool, "positive")
    with pytest.raises(ValidationError):
        amend(world, pool, "invalid")  # superseded now
    amend(world, new, "invalid")
    assert set(states(pool.tube).values()) == {"recollect"}
    chain = TubeResult.objects.filter(tube=pool.tube).order_by("id")
    assert [(r.value, r.state, r.current) for r in chain] == [
        ("negative", "superseded", False),
        ("positive", "superseded", False),
        ("invalid", "released", True),
    ]


def test_a_client_id_of_another_labs_release_is_refused(world):
    from swabline.accounts import services as accounts
    from swabline.accounts.enums import Role
    from tests.factories import UserFactory

    result = resulted(world, "negative", 2)
    client_id = uuid.uuid4()
    services.release_results(
        by=world.users["labsupervisor_a"], lab=world.lab_a, result_ids=[result.pk],
        client_id=client_id,
    )  # fmt: skip
    supervisor_b = UserFactory.create(username="labsupervisor_b")
    accounts.assign(user=supervisor_b, role=Role.LAB_SUPERVISOR, by=None, lab=world.lab_b)
    with pytest.raises(ValidationError):
        services.release_results(
            by=supervisor_b, lab=world.lab_b, result_ids=[], client_id=client_id
        )
