"""Building tubes through the real station services and driving them to a result.

Tubes are opened, filled and closed with `swabline.sampling.services` (the same
engine as a station's sync); shipping and receiving move the status through
`swabline.sampling.services.transition`; results are `TubeResult` rows as the
lab's entry creates them."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from swabline.labs.models import TubeResult
from swabline.people.models import Person
from swabline.results import services
from swabline.results.models import Release
from swabline.sampling import services as sampling
from swabline.sampling.enums import SampleKind, TubeKind, TubeStatus
from swabline.sampling.models import Tube
from tests.sampling.factories import add_event, apply, labels, open_event, people

CHAIN = (TubeStatus.SHIPPED, TubeStatus.RECEIVED)


def tube_with(
    world: Any,
    members: list[Person] | int = 3,
    *,
    kind: str = TubeKind.POOL,
    sample_kind: str = SampleKind.NORMAL,
    site: Any = None,
    close: bool = True,
) -> Tube:
    """A tube at `site` (default site A) holding `members` (or that many new people)."""
    site = site or world.site_a
    if isinstance(members, int):
        members = people(world, members, ward=site.ward)
    [code] = labels(world, site=site)
    events = [open_event(code, kind=kind)]
    override = sample_kind != SampleKind.NORMAL
    events += [add_event(code, p, kind=sample_kind, override=override) for p in members]
    results = apply(world, events, user="admin", site=site)
    assert all(r.fate == "applied" for r in results), [(r.fate, r.reason) for r in results]
    tube = Tube.objects.select_related("site__ward").get(code=code)
    if close and tube.status == TubeStatus.OPEN:
        sampling.transition(tube, TubeStatus.CLOSED, by=world.users["admin"])
    return tube


def receive(world: Any, tube: Tube) -> Tube:
    for status in CHAIN:
        sampling.transition(tube, status, by=world.users["admin"])
    return tube


def enter(world: Any, tube: Tube, value: str, *, lab: Any = None, ct: Any = None) -> TubeResult:
    """A technician's entered result; the tube moves received → resulted."""
    if tube.status in (TubeStatus.CLOSED,):
        receive(world, tube)
    sampling.transition(tube, TubeStatus.RESULTED, by=world.users["admin"])
    return TubeResult.objects.create(
        tube=tube,
        lab=lab or world.lab_a,
        value=value,
        ct_values=ct or {},
        entered_by=world.users["labtech_a"],
        entered_at=timezone.now(),
    )


def release(world: Any, *results: TubeResult, user: str = "labsupervisor_a") -> Release:
    return services.release_results(
        by=world.users[user], lab=results[0].lab, result_ids=[r.pk for r in results]
    )


def resulted(world: Any, value: str, members: list[Person] | int = 3, **kw: Any) -> TubeResult:
    return enter(world, tube_with(world, members, **kw), value)


def released(world: Any, value: str, members: list[Person] | int = 3, **kw: Any) -> TubeResult:
    result = resulted(world, value, members, **kw)
    release(world, result)
    result.refresh_from_db()
    return result
