"""The ward's view of its sites, and the scoped reads behind the station API."""

from __future__ import annotations

import uuid

import pytest
from django.http import Http404

from swabline.sampling import queries, services
from swabline.sampling.enums import EventType
from tests.sampling.factories import add_event, apply, event, labels, open_event, people

pytestmark = pytest.mark.django_db


def busy_day(world) -> list:
    """Site A: a closed tube of 10, an open tube of 2, a cancelled one, a conflict;
    site B: one open tube of 1 (the person site A then scans again)."""
    crowd = people(world, 13)
    full, part, cancelled = labels(world, 3)
    [code_b] = labels(world, site=world.site_b)
    apply(
        world,
        [open_event(code_b), add_event(code_b, crowd[12])],
        site=world.site_b,
        user="admin",
        device="dev-b",
    )
    batch = [open_event(full)] + [add_event(full, p) for p in crowd[:10]]
    batch += [open_event(part), add_event(part, crowd[10]), add_event(part, crowd[11])]
    batch += [open_event(cancelled), event(EventType.VOID_TUBE, cancelled)]
    batch += [add_event(part, crowd[12])]  # already sampled at site B
    apply(world, batch, device="dev-a")
    return crowd


def test_site_overview_counts_per_site(world, django_assert_num_queries):
    busy_day(world)
    user = world.users["province"]
    queries.site_overview(user, world.campaign)  # loads the user's grants, once
    with django_assert_num_queries(4):
        rows = queries.site_overview(user, world.campaign)
    a, b = rows
    assert (a.site, b.site) == (world.site_a, world.site_b)
    assert (a.tubes_open, a.tubes_closed, a.tubes_void, a.people_sampled) == (1, 1, 1, 12)
    assert a.conflicts_pending == 1
    assert [(d.device_id, d.user, d.pending_conflicts) for d in a.devices] == [
        ("dev-a", "sampler_a", 1)
    ]
    assert a.last_sync_at == a.devices[0].last_sync_at
    assert (b.tubes_open, b.people_sampled, b.conflicts_pending) == (1, 1, 0)
    assert [d.device_id for d in b.devices] == ["dev-b"]


def test_a_ward_official_sees_their_wards_sites_only(world):
    busy_day(world)
    [row] = queries.site_overview(world.users["ward_b"], world.campaign)
    assert row.site == world.site_b
    assert queries.site_overview(world.users["labtech_a"], world.campaign) == []


def test_open_conflicts_list_the_person_and_clear_when_resolved(world):
    crowd = busy_day(world)
    [conflict] = queries.open_conflicts(world.users["ward_a"], world.site_a)
    assert (conflict.reason, conflict.person) == ("already_sampled", crowd[12])
    assert list(queries.open_conflicts(world.users["ward_b"], world.site_a)) == []
    services.resolve_conflict(by=world.users["ward_a"], event=conflict)
    assert list(queries.open_conflicts(world.users["ward_a"], world.site_a)) == []
    [a, _] = queries.site_overview(world.users["province"], world.campaign)
    assert a.conflicts_pending == 0


def test_capture_sites_and_tubes_are_scoped(world):
    assert list(queries.capture_sites(world.users["sampler_a"])) == [world.site_a]
    assert list(queries.capture_sites(world.users["ward_a"])) == []
    [code] = labels(world)
    apply(world, [open_event(code)])
    assert queries.get_tube(world.users["ward_a"], code).code == code
    with pytest.raises(Http404):
        queries.get_tube(world.users["ward_b"], code)
    with pytest.raises(Http404):
        queries.get_tube(world.users["sampler_a"], str(uuid.uuid4()))
