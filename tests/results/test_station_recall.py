"""The station and the recall list: a member of a released positive pool, scanned at
any station, is taken as an individual recall sample without an override; into a
pool they are refused with the reason; a recollection needs no override either."""

from __future__ import annotations

import pytest

from swabline.results.enums import OutcomeState
from swabline.results.queries import current_outcome, recall_pending
from swabline.sampling.enums import SampleKind, TubeKind
from swabline.sampling.models import Sample
from tests.results.helpers import released
from tests.sampling.factories import add_event, apply, labels, open_event

pytestmark = pytest.mark.django_db


def _members(result):
    return [s.person for s in result.tube.samples.order_by("position")]


def test_recalled_person_into_a_pool_is_refused_with_the_reason(world):
    a, _b = _members(released(world, "positive", 2))
    [code] = labels(world, site=world.site_b)
    results = apply(world, [open_event(code), add_event(code, a)], user="admin", site=world.site_b)
    assert (results[1].fate, results[1].reason) == ("conflict", "recall_listed")
    assert "recall" in results[1].message.lower() or "gọi lại" in results[1].message.lower()


def test_recalled_person_into_an_individual_tube_becomes_a_recall_sample(world):
    a, _b = _members(released(world, "positive", 2))
    assert recall_pending(a.pk, world.campaign.pk)
    [code] = labels(world)
    results = apply(world, [open_event(code, kind=TubeKind.INDIVIDUAL), add_event(code, a)])
    assert (results[1].fate, results[1].reason) == ("applied", "recall_sample")
    sample = Sample.objects.get(tube__code=code)
    assert sample.kind == SampleKind.RECALL and sample.tube.is_recall
    assert not recall_pending(a.pk, world.campaign.pk)  # resampled: off the pending list
    assert current_outcome(a, world.campaign) == OutcomeState.RECALL  # until its result


def test_recollect_person_is_sampled_again_without_override(world):
    a, _b = _members(released(world, "invalid", 2))
    [code] = labels(world)
    results = apply(world, [open_event(code), add_event(code, a)])
    assert (results[1].fate, results[1].reason) == ("applied", "recollect_sample")
    assert Sample.objects.get(tube__code=code).kind == SampleKind.RECOLLECT
    assert current_outcome(a, world.campaign) == OutcomeState.AWAITING


def test_without_a_list_a_second_scan_still_needs_an_override(world):
    a, _b = _members(released(world, "negative", 2))
    [code] = labels(world)
    results = apply(world, [open_event(code), add_event(code, a)])
    assert (results[1].fate, results[1].reason) == ("conflict", "already_sampled")
