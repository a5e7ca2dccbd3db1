"""The derived outcome, the recall hook for the station, and the set-based variant."""

from __future__ import annotations

import pytest

from swabline.results.enums import OutcomeState
from swabline.results.queries import (
    current_outcome,
    current_outcomes,
    derive,
    recall_pending,
    recollect_pending,
)
from swabline.sampling import services as sampling
from swabline.sampling.enums import SampleKind, TubeKind, TubeStatus
from tests.results.helpers import enter, release, released, tube_with
from tests.sampling.factories import people

pytestmark = pytest.mark.django_db

S = OutcomeState


@pytest.mark.parametrize(
    ("stored", "sampled", "newer", "expected"),
    [
        (None, False, False, S.NOT_SAMPLED),
        (None, True, False, S.AWAITING),
        (None, True, True, S.AWAITING),
        ("recall", True, True, S.RECALL),
        ("recollect", True, True, S.AWAITING),
        ("recollect", True, False, S.RECOLLECT),
        ("negative", True, False, S.NEGATIVE),
        ("positive", True, True, S.AWAITING),
    ],
)
def test_the_derivation_rule(stored, sampled, newer, expected):
    assert derive(stored, sampled, newer) == expected


def test_a_person_walks_through_the_states(world):
    [a] = people(world, 1)
    campaign = world.campaign
    assert current_outcome(a, campaign) == S.NOT_SAMPLED
    tube = tube_with(world, [a], close=False)
    assert current_outcome(a.pk, campaign.pk) == S.AWAITING
    sampling.transition(tube, TubeStatus.VOID, by=world.users["admin"])
    assert current_outcome(a, campaign) == S.NOT_SAMPLED  # a cancelled tube: back to not sampled
    pool = tube_with(world, [a])
    result = enter(world, pool, "positive")
    assert current_outcome(a, campaign) == S.AWAITING  # entered is not released
    assert not recall_pending(a.pk, campaign.pk)
    release(world, result)
    assert current_outcome(a, campaign) == S.RECALL
    assert recall_pending(a.pk, campaign.pk)
    recall = tube_with(world, [a], kind=TubeKind.INDIVIDUAL, sample_kind=SampleKind.RECALL)
    assert current_outcome(a, campaign) == S.RECALL
    assert not recall_pending(a.pk, campaign.pk)  # already resampled: no second recall tube
    release(world, enter(world, recall, "positive"))
    assert current_outcome(a, campaign) == S.POSITIVE
    assert not recall_pending(a.pk, campaign.pk)


def test_recollect_pending_until_swabbed_again(world):
    result = released(world, "invalid", 2)
    a, b = [s.person for s in result.tube.samples.order_by("position")]
    assert recollect_pending(a.pk, world.campaign.pk) and recollect_pending(b.pk, world.campaign.pk)
    tube_with(world, [a], sample_kind=SampleKind.RECOLLECT)
    assert not recollect_pending(a.pk, world.campaign.pk)
    assert recollect_pending(b.pk, world.campaign.pk)


def test_many_people_in_one_query(world, django_assert_num_queries):
    result = released(world, "negative", 3)
    members = [s.person_id for s in result.tube.samples.all()]
    [stranger] = people(world, 1)
    with django_assert_num_queries(1):
        found = current_outcomes([*members, stranger.pk], world.campaign)
    assert found == {**dict.fromkeys(members, S.NEGATIVE), stranger.pk: S.NOT_SAMPLED}
    assert current_outcomes([], world.campaign) == {}
