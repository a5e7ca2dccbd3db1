"""What a looked-up person sees: per campaign, the current outcome (derived by the
results app's rule), the steps so far and what to do next.

Built from the rows `queries.facts` read; no query of its own. The page, the slip
and the API all render these objects.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from swabline.labs.enums import ResultValue
from swabline.lookup.queries import Facts, OutcomeRow, PersonRow, SampleRow, SiteRow
from swabline.people.codes import format_person_code
from swabline.results.enums import OutcomeState
from swabline.results.queries import PENDING_TUBE_STATUSES, derive
from swabline.sampling.enums import SampleKind, TubeKind, TubeStatus

AT_LAB = frozenset({TubeStatus.RECEIVED, TubeStatus.RESULTED, TubeStatus.RELEASED})
CERTIFIED = frozenset({OutcomeState.NEGATIVE, OutcomeState.POSITIVE})


@dataclass(frozen=True)
class Step:
    step: str  # registered | sampled | at_lab | result | rejected | next
    at: dt.datetime | None
    text: str
    detail: str = ""


@dataclass(frozen=True)
class Place:
    name: str
    address: str


@dataclass
class CampaignView:
    campaign_id: int
    name: str
    starts_on: dt.date
    state: OutcomeState
    outcome_id: int | None = None
    certificate: bool = False
    steps: list[Step] = field(default_factory=list)
    instructions: str = ""
    go_to: list[Place] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        return str(self.state.label)


@dataclass
class PersonView:
    person_id: int
    public_id: str
    full_name: str
    code: str
    birth: str
    registered_at: dt.datetime
    campaigns: list[CampaignView] = field(default_factory=list)

    @property
    def latest(self) -> CampaignView | None:
        return self.campaigns[0] if self.campaigns else None

    @property
    def earlier(self) -> list[CampaignView]:
        return self.campaigns[1:]


def build(people: Sequence[PersonRow], facts: Facts) -> list[PersonView]:
    """One view per person, campaigns latest first."""
    samples: dict[tuple[int, int], list[SampleRow]] = defaultdict(list)
    for s in facts.samples:
        samples[(s.person_id, s.campaign_id)].append(s)
    outcomes = {(o.person_id, o.campaign_id): o for o in facts.outcomes}
    sites: dict[tuple[int, int], list[SiteRow]] = defaultdict(list)
    for site in facts.sites:
        sites[(site.person_id, site.campaign_id)].append(site)
    views = []
    for person in people:
        keys = {k for k in (*samples, *outcomes, *sites) if k[0] == person.id}
        campaigns = [
            _campaign(person, samples.get(k, []), outcomes.get(k), sites.get(k, [])) for k in keys
        ]
        campaigns.sort(key=lambda c: (c.starts_on, c.campaign_id), reverse=True)
        views.append(
            PersonView(
                person.id,
                person.public_id,
                person.full_name,
                format_person_code(person.code),
                person.birth_date.strftime("%d/%m/%Y")
                if person.birth_date
                else str(person.birth_year),
                person.created_at,
                campaigns,
            )
        )
    return views


def _campaign(
    person: PersonRow, samples: list[SampleRow], outcome: OutcomeRow | None, sites: list[SiteRow]
) -> CampaignView:
    first = samples[0] if samples else outcome or sites[0]
    assert first is not None
    newer_pending = any(
        s.tube_status in PENDING_TUBE_STATUSES
        and (outcome is None or s.sample_id > outcome.sample_id)
        for s in samples
    )
    state = derive(outcome.state if outcome else None, bool(samples), newer_pending)
    view = CampaignView(first.campaign_id, first.campaign_name, first.starts_on, state)
    if outcome is not None:
        view.outcome_id = outcome.outcome_id
        view.certificate = (
            state in CERTIFIED and outcome.result_id is not None and outcome.release_id is not None
        )
    view.steps = [Step("registered", person.created_at, _("Registered"))]
    for sample in samples:
        view.steps += _sample_steps(sample)
    if outcome is not None and not any(s.sample_id == outcome.sample_id for s in samples):
        view.steps.append(_decision_step(outcome))
    view.instructions, view.go_to = _next(state, samples, outcome, sites)
    if view.instructions:
        view.steps.append(Step("next", None, view.instructions))
    return view


def _sample_steps(sample: SampleRow) -> list[Step]:
    if sample.sample_kind == SampleKind.RECALL:
        text = _("Sampled again, alone in a tube")
    elif sample.sample_kind == SampleKind.RECOLLECT:
        text = _("Sampled again")
    else:
        text = _("Sampled")
    tube = (
        _("Pooled tube (several people together)")
        if sample.tube_kind == TubeKind.POOL
        else _("Individual tube")
    )
    where = sample.site_name + (f", {sample.site_address}" if sample.site_address else "")
    steps = [Step("sampled", sample.collected_at, text, f"{where} · {tube}")]
    if sample.tube_status == TubeStatus.REJECTED:
        steps.append(Step("rejected", sample.at_lab, _("The lab could not test the tube")))
    elif sample.at_lab is not None or sample.tube_status in AT_LAB:
        steps.append(Step("at_lab", sample.at_lab, _("Received at the lab")))
    if sample.result_value is not None:
        steps.append(Step("result", sample.released_at, _result_text(sample)))
    return steps


def _result_text(sample: SampleRow) -> str:
    pooled = sample.tube_kind == TubeKind.POOL
    if sample.result_value == ResultValue.NEGATIVE:
        return _("Result: negative")
    if sample.result_value == ResultValue.POSITIVE:
        return _("Result: the pool was positive") if pooled else _("Result: positive")
    return _("Result: the test did not work")


def _decision_step(outcome: OutcomeRow) -> Step:
    return Step("result", outcome.decided_at, str(OutcomeState(outcome.state).label))


def _next(
    state: OutcomeState, samples: list[SampleRow], outcome: OutcomeRow | None, sites: list[SiteRow]
) -> tuple[str, list[Place]]:
    """What to do now, and where to go (the site of the sample first, then the
    campaign's other sites in the person's ward)."""
    places: list[Place] = []
    if outcome is not None:
        places.append(Place(outcome.site_name, outcome.site_address))
    elif samples:
        places.append(Place(samples[-1].site_name, samples[-1].site_address))
    for site in sites:
        place = Place(site.site_name, site.site_address)
        if place not in places:
            places.append(place)
    if state == OutcomeState.RECALL:
        return (
            _(
                "Your sample was tested together with others and that pool was positive. "
                "This does not mean you are positive. Go back to a sampling site for an "
                "individual sample as soon as you can, and bring your QR code or CCCD."
            ),
            places,
        )
    if state == OutcomeState.RECOLLECT:
        return (
            _(
                "Your sample could not be tested. Please come back to a sampling site to "
                "be sampled again, and bring your QR code or CCCD."
            ),
            places,
        )
    if state == OutcomeState.POSITIVE:
        return (
            _(
                "Stay at home and avoid contact with others. Health staff of your ward "
                "will contact you; follow their instructions."
            ),
            [],
        )
    if state == OutcomeState.AWAITING:
        return _("Your sample is being tested. Look again later."), []
    if state == OutcomeState.NOT_SAMPLED:
        return _("You have not been sampled yet in this campaign."), places
    return "", []
