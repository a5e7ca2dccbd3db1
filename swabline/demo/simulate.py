"""A simulated campaign day through the real services, for demos and benchmarks
(`manage.py simulate_campaign`).

Everything goes through the same functions the screens and the API call: people
are registered (`people.services.register_person`), swabbed at the sites' stations
over a day (`sampling.services.apply_events`, batches as a station syncs them),
packed, handed over and received (`shipping.services`), tested
(`labs.services.record_result`) and released (`results.services.release_results`);
the members of positive pools come back for individual recall tubes, one tube is
rejected by the lab (its people are swabbed again) and one released result is
corrected. Deterministic for a seed: the same people, infections, queue order and
clock offsets (the wall-clock times of the services themselves are today's).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from swabline.accounts import services as accounts
from swabline.accounts.enums import Role
from swabline.accounts.models import User
from swabline.campaigns.enums import CampaignStatus, TestType
from swabline.campaigns.models import Campaign, CampaignWard, Site
from swabline.demo import names
from swabline.demo.seed import _phone
from swabline.labs import services as labs
from swabline.labs.enums import ResultValue
from swabline.labs.models import Lab, TubeResult
from swabline.people import services as people_services
from swabline.people.enums import DeclarationSource, Sex
from swabline.people.models import Person
from swabline.places.enums import Level, System
from swabline.places.models import Place
from swabline.results import services as results
from swabline.results.enums import OutcomeState
from swabline.results.models import Outcome
from swabline.sampling import services as sampling
from swabline.sampling.enums import EventType, SampleKind, TubeKind, TubeStatus
from swabline.sampling.models import Tube
from swabline.sampling.sync import EventIn
from swabline.shipping import services as shipping
from swabline.shipping.enums import RejectionReason

WARDS = 4
MAX_ROUNDS = 4  # first round, then recalls and recollections until none is left
SHIPMENT_TUBES = 40
RELEASE_BATCH = 500
DAY_HOURS = 10  # swabbing from 07:00 to 17:00 (station clock)
Progress = Callable[[str, int, int], None]


class SimulationError(RuntimeError):
    pass


@dataclass
class Simulation:
    campaign: Campaign
    people: int = 0
    tubes: int = 0
    positive_pools: int = 0
    recalled: int = 0
    positive_people: int = 0
    rejected: int = 0
    corrected: int = 0
    infected: set[int] = field(default_factory=set)


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def day_start(now: dt.datetime | None = None) -> dt.datetime:
    """07:00 local time of the last day whose swabbing hours (and the afternoon's
    recalls) are over: today after 19:00, else yesterday. Station clocks never run
    ahead of the server, and the whole day falls on one local date."""
    local = timezone.localtime(now)
    day = local.date() if local.hour >= 7 + DAY_HOURS + 2 else local.date() - dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(7), tzinfo=local.tzinfo)


def simulate_campaign(
    *,
    people: int,
    prevalence: float,
    pool_size: int,
    seed: int = 1,
    province_code: str = "80",
    progress: Progress = _quiet,
) -> Simulation:
    """Create and run one campaign of `people` people at `prevalence` with pools of
    `pool_size` (1: individual tubes) in the province `province_code`."""
    if people < 1 or not 0 <= prevalence <= 1 or not 1 <= pool_size <= 50:
        raise SimulationError("people ≥ 1, 0 ≤ prevalence ≤ 1, 1 ≤ pool size ≤ 50")
    rng = random.Random(seed)
    province = Place.objects.filter(
        system=System.CURRENT, level=Level.PROVINCE, code=province_code
    ).first()
    if province is None:
        raise SimulationError(f"No province {province_code}: run `manage.py load_places`.")
    wards = list(Place.objects.filter(parent=province, level=Level.WARD).order_by("code")[:WARDS])
    if not wards:
        raise SimulationError(f"Province {province_code} has no wards.")
    start = day_start()
    world = _world(province, wards, people, pool_size, seed, start)
    sim = Simulation(campaign=world.campaign)
    registered = _register(world, people, rng, progress)
    sim.people = len(registered)
    sim.infected = {p.pk for p in registered if rng.random() < prevalence}
    queues = _queues(world, registered, rng)
    codes = _swab(world, queues, start, rng, progress)
    sim.tubes = len(codes)
    _ship_and_receive(world, codes, progress)
    sim.rejected = _reject_one(world, codes, rng)
    _test_and_release(world, sim, progress)
    sim.positive_pools = TubeResult.objects.filter(
        tube__campaign=world.campaign,
        tube__kind=TubeKind.POOL,
        value=ResultValue.POSITIVE,
        current=True,
    ).count()
    for round_ in range(1, MAX_ROUNDS):
        if not _second_round(world, sim, start + dt.timedelta(hours=round_), rng, progress):
            break
    sim.corrected = _correct_one(world)
    sim.positive_people = Outcome.objects.filter(
        campaign=world.campaign, current=True, state=OutcomeState.POSITIVE
    ).count()
    return sim


@dataclass
class World:
    campaign: Campaign
    sites: list[Site]
    lab: Lab
    official: User
    samplers: dict[int, User]
    couriers: dict[int, User]
    technician: User
    supervisor: User


def _world(
    province: Place, wards: list[Place], people: int, pool_size: int, seed: int, start: Any
) -> World:
    day = timezone.localdate(start)
    campaign = Campaign.objects.create(
        name=f"Mô phỏng {seed} — {timezone.localtime():%d/%m/%Y %H:%M:%S}",
        province=province,
        starts_on=day,
        ends_on=day + dt.timedelta(days=2),
        test_type=TestType.RT_PCR_POOLED if pool_size > 1 else TestType.RT_PCR_INDIVIDUAL,
        pool_size_limit=pool_size,
        status=CampaignStatus.ACTIVE,
    )
    per_ward = -(-people // len(wards))
    for ward in wards:
        CampaignWard.objects.create(
            campaign=campaign, ward=ward, target_population=round(per_ward * 1.08)
        )
    sites = [
        Site.objects.create(campaign=campaign, ward=ward, name=f"Điểm {ward.name}")
        for ward in wards
    ]
    lab, _ = Lab.objects.get_or_create(
        code=f"SIM-{province.code}",
        defaults={"name": f"Phòng xét nghiệm mô phỏng {province.name}", "place": province},
    )
    tag = f"sim{campaign.pk}"

    def user(name: str, role: Role, **scope: Any) -> User:
        made = User.objects.create(username=f"{tag}-{name}")
        made.set_unusable_password()
        made.save(update_fields=["password"])
        accounts.assign(user=made, role=role, by=None, **scope)
        return made

    return World(
        campaign=campaign,
        sites=sites,
        lab=lab,
        official=user("official", Role.OFFICIAL, place=province),
        samplers={s.pk: user(f"sampler-{i}", Role.SAMPLER, site=s) for i, s in enumerate(sites)},
        couriers={s.pk: user(f"courier-{i}", Role.COURIER, site=s) for i, s in enumerate(sites)},
        technician=user("labtech", Role.LAB_TECHNICIAN, lab=lab),
        supervisor=user("labsupervisor", Role.LAB_SUPERVISOR, lab=lab),
    )


def _register(world: World, count: int, rng: random.Random, progress: Progress) -> list[Person]:
    family = [n for n, _w in names.FAMILY_NAMES]
    weights = [w for _n, w in names.FAMILY_NAMES]
    wards = [site.ward for site in world.sites]
    made: list[Person] = []
    for i in range(count):
        female = rng.random() < 0.51
        full_name = " ".join(
            [
                rng.choices(family, weights)[0],
                rng.choice(names.MIDDLE_FEMALE if female else names.MIDDLE_MALE),
                rng.choice(names.GIVEN_FEMALE if female else names.GIVEN_MALE),
            ]
        )
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 80))
        phone = _phone(rng) if rng.random() < 0.85 else ""
        data = people_services.PersonInput(
            full_name=full_name,
            birth=birth.strftime("%d/%m/%Y"),
            sex=Sex.FEMALE if female else Sex.MALE,
            ward=wards[i % len(wards)],
            phone=phone,
            address=f"{rng.randint(1, 400)} {rng.choice(names.STREETS)}",
        )
        registration = people_services.register_person(
            data=data, by=world.official, source=DeclarationSource.STAFF
        )
        made.append(registration.person)
        progress("register", i + 1, count)
    # A re-registration finds the same person: keep each once.
    return list({p.pk: p for p in made}.values())


def _queues(world: World, registered: list[Person], rng: random.Random) -> dict[int, list[Person]]:
    """Each person queues at their ward's site, in a shuffled order."""
    by_ward: dict[int, list[Person]] = {site.ward_id: [] for site in world.sites}
    for person in registered:
        by_ward[person.ward_id].append(person)
    queues = {}
    for site in world.sites:
        queue = by_ward[site.ward_id]
        rng.shuffle(queue)
        queues[site.pk] = queue
    return queues


def _labels(world: World, site: Site, count: int) -> list[str]:
    codes: list[str] = []
    while len(codes) < count:
        size = min(count - len(codes), 1000)
        batch = sampling.generate_label_batch(
            by=world.official, campaign=world.campaign, count=size, site=site
        )
        codes += sorted(batch.labels.values_list("code", flat=True))
    return codes


def _swab(
    world: World,
    queues: dict[int, list[Person]],
    start: Any,
    rng: random.Random,
    progress: Progress,
    *,
    kind: str = SampleKind.NORMAL,
) -> list[str]:
    """Swab each queue at its site into tubes (pools of the campaign's size, or
    individual tubes for recall); one station batch per tube. The tubes' codes."""
    individual = kind == SampleKind.RECALL or world.campaign.pool_size_limit == 1
    size = 1 if individual else world.campaign.pool_size_limit
    total = sum(len(q) for q in queues.values())
    done = 0
    codes: list[str] = []
    for site in world.sites:
        queue = queues.get(site.pk, [])
        if not queue:
            continue
        groups = [queue[i : i + size] for i in range(0, len(queue), size)]
        labels = _labels(world, site, len(groups))
        span = dt.timedelta(hours=DAY_HOURS) / max(len(queue), 1)
        seen = 0
        for index, (code, members) in enumerate(zip(labels, groups, strict=True)):
            at = start + span * seen + dt.timedelta(seconds=rng.randrange(0, 60))
            tube_kind = TubeKind.INDIVIDUAL if individual else TubeKind.POOL
            events = [_event(EventType.OPEN_TUBE, code, at, kind=tube_kind)]
            for offset, person in enumerate(members):
                events.append(
                    _event(
                        EventType.ADD_PERSON,
                        code,
                        at + dt.timedelta(seconds=20 * offset),
                        person=person.public_id,
                        kind=kind,
                    )
                )
            if len(members) < size:
                events.append(_event(EventType.CLOSE_TUBE, code, at + dt.timedelta(minutes=5)))
            outcome = sampling.apply_events(
                by=world.samplers[site.pk], site=site, device_id=f"sim-{site.pk}", events=events
            )
            bad = [r for r in outcome if r.fate != "applied"]
            if bad:
                raise SimulationError(f"station refused {bad[0].reason} on {code} (#{index})")
            codes.append(code)
            seen += len(members)
            done += len(members)
            progress("swab" if kind == SampleKind.NORMAL else f"swab {kind}", done, total)
    return codes


def _event(type_: str, code: str, at: Any, **fields: Any) -> EventIn:
    return EventIn(id=uuid.uuid4(), type=type_, at=at, tube=code, **fields)


def _ship_and_receive(world: World, codes: Sequence[str], progress: Progress) -> None:
    """Boxes of up to SHIPMENT_TUBES tubes per site, handed over and received."""
    by_site: dict[int, list[str]] = {}
    # In the order the tubes were opened (label codes are random: never sort by them).
    for code, site_id in (
        Tube.objects.filter(code__in=codes).order_by("id").values_list("code", "site_id")
    ):
        by_site.setdefault(site_id, []).append(code)
    done = 0
    sites = {s.pk: s for s in world.sites}
    for site_id, site_codes in by_site.items():
        for i in range(0, len(site_codes), SHIPMENT_TUBES):
            box = site_codes[i : i + SHIPMENT_TUBES]
            courier = world.couriers[site_id]
            shipment = shipping.create_shipment(by=courier, site=sites[site_id], lab=world.lab)
            shipping.add_tubes(by=courier, shipment=shipment, codes=box)
            shipping.hand_over(by=courier, shipment=shipment, courier_name="Nguyễn Văn Tài")
            shipping.receive(by=world.technician, shipment=shipment, codes=box)
            done += len(box)
            progress("ship", done, len(codes))


def _reject_one(world: World, codes: Sequence[str], rng: random.Random) -> int:
    """The lab refuses one received first-round tube (it leaked)."""
    received = list(
        Tube.objects.filter(code__in=codes, status=TubeStatus.RECEIVED)
        .order_by("id")
        .values_list("code", flat=True)
    )
    if len(received) < 2:
        return 0
    code = rng.choice(received)
    shipping.reject_tube(
        by=world.technician, lab=world.lab, code=code, reason=RejectionReason.LEAKED
    )
    return 1


def _waiting(world: World) -> QuerySet[Tube]:
    return Tube.objects.filter(campaign=world.campaign, status=TubeStatus.RECEIVED)


def _test_and_release(world: World, sim: Simulation, progress: Progress) -> None:
    """Enter a result for every received tube (positive when a member is infected)
    and release them in batches."""
    tubes = list(_waiting(world).order_by("id").prefetch_related("samples"))
    ids: list[int] = []
    for index, tube in enumerate(tubes, start=1):
        members = {s.person_id for s in tube.samples.all() if s.active}
        value = ResultValue.POSITIVE if members & sim.infected else ResultValue.NEGATIVE
        ct = {"E": 24.5, "N": 26.0} if value == ResultValue.POSITIVE else {}
        recorded = labs.record_result(
            by=world.technician, lab=world.lab, value=value, tube=tube, ct_values=ct
        )
        ids.append(recorded.result.pk)
        progress("test", index, len(tubes))
    for i in range(0, len(ids), RELEASE_BATCH):
        results.release_results(
            by=world.supervisor, lab=world.lab, result_ids=ids[i : i + RELEASE_BATCH]
        )
        progress("release", min(i + RELEASE_BATCH, len(ids)), len(ids))


def _second_round(
    world: World, sim: Simulation, start: Any, rng: random.Random, progress: Progress
) -> bool:
    """Members of positive pools come back for individual recall tubes, and the
    people to recollect (a rejected tube) are swabbed again into pools; all are
    shipped, tested and released like the first round. Whether anyone came."""
    later = start + dt.timedelta(hours=DAY_HOURS // 2)
    codes: list[str] = []
    for state, kind in (
        (OutcomeState.RECALL, SampleKind.RECALL),
        (OutcomeState.RECOLLECT, SampleKind.RECOLLECT),
    ):
        rows = Outcome.objects.filter(campaign=world.campaign, current=True, state=state)
        queues: dict[int, list[Person]] = {}
        for outcome in rows.select_related("person", "tube").order_by("id"):
            queues.setdefault(outcome.tube.site_id, []).append(outcome.person)
        if state == OutcomeState.RECALL:
            sim.recalled += sum(len(q) for q in queues.values())
        if queues:
            codes += _swab(world, queues, later, rng, progress, kind=kind)
    if codes:
        _ship_and_receive(world, codes, progress)
        _test_and_release(world, sim, progress)
    return bool(codes)


def _correct_one(world: World) -> int:
    """The supervisor corrects one released negative pool to invalid (a run found
    contaminated): its members are to be swabbed again."""
    result = (
        TubeResult.objects.filter(
            tube__campaign=world.campaign,
            tube__kind=TubeKind.POOL,
            value=ResultValue.NEGATIVE,
            current=True,
        )
        .order_by("tube_id")
        .first()
    )
    if result is None:
        return 0
    results.amend_result(
        by=world.supervisor,
        result=result,
        value=ResultValue.INVALID,
        reason="Mô phỏng: chạy máy bị nhiễm",
    )
    return 1
