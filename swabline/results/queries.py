"""Reads of per-person outcomes: the derived current outcome, the recall list.

A person's outcome in a campaign is derived from two things (DESIGN §3):

- the stored current `Outcome` row (negative, positive, recall, recollect), and
- their *pending* samples: active samples in a tube that nobody has decided yet
  (open, closed, shipped, received or resulted).

Rules (`derive`): no stored outcome → *awaiting* if they have an active sample,
else *not sampled*; *recall* stays recall until an individual result is released
(a recall sample already taken shows as "resampled" on the recall list, not as
awaiting); otherwise a pending sample newer than the stored outcome's sample makes
them *awaiting* (e.g. recollect, then swabbed again); else the stored state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from swabline.accounts.enums import Permission
from swabline.accounts.permissions import scope_filter
from swabline.campaigns.models import Campaign
from swabline.people.models import Person
from swabline.results.enums import OutcomeState
from swabline.results.logic import ids_condition
from swabline.results.models import Outcome
from swabline.sampling.enums import SampleKind, TubeStatus
from swabline.sampling.models import Sample

# Tubes whose members are still waiting for a decision.
PENDING_TUBE_STATUSES = (
    TubeStatus.OPEN,
    TubeStatus.CLOSED,
    TubeStatus.SHIPPED,
    TubeStatus.RECEIVED,
    TubeStatus.RESULTED,
)


def derive(stored: str | None, has_sample: bool, newer_pending: bool) -> OutcomeState:
    """The derivation rule on its own (see the module docstring)."""
    if stored is None:
        return OutcomeState.AWAITING if has_sample else OutcomeState.NOT_SAMPLED
    if stored == OutcomeState.RECALL:
        return OutcomeState.RECALL
    if newer_pending:
        return OutcomeState.AWAITING
    return OutcomeState(stored)


def current_outcome(person: Person | int, campaign: Campaign | int) -> OutcomeState:
    """The outcome `person` has now in `campaign` (derived; three indexed lookups)."""
    person_id = person if isinstance(person, int) else person.pk
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    return current_outcomes([person_id], campaign_id).get(person_id, OutcomeState.NOT_SAMPLED)


def current_outcomes(
    person_ids: Iterable[int], campaign: Campaign | int
) -> dict[int, OutcomeState]:
    """The derived outcome of each of `person_ids` in `campaign`, in one query."""
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        return {}
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    condition, params = ids_condition("p.id", ids)
    pending = ", ".join(f"'{s}'" for s in PENDING_TUBE_STATUSES)
    sql = f"""
      SELECT p.id, o.state,
        EXISTS (SELECT 1 FROM sampling_sample s WHERE s.person_id = p.id
                AND s.campaign_id = %s AND s.active = %s) AS has_sample,
        EXISTS (SELECT 1 FROM sampling_sample s JOIN sampling_tube t ON t.id = s.tube_id
                WHERE s.person_id = p.id AND s.campaign_id = %s AND s.active = %s
                AND t.status IN ({pending})
                AND (o.sample_id IS NULL OR s.id > o.sample_id)) AS newer_pending
      FROM people_person p
      LEFT JOIN results_outcome o ON o.person_id = p.id AND o.campaign_id = %s
        AND o.current = %s
      WHERE {condition}
    """  # noqa: S608 — only constants are interpolated
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id, True, campaign_id, True, campaign_id, True, *params])
        rows = cursor.fetchall()
    return {pid: derive(state, bool(has), bool(newer)) for pid, state, has, newer in rows}


def recall_pending(person_id: int, campaign_id: int) -> bool:
    """Whether the station should open an individual recall tube for this person now:
    their current outcome is *recall* and no recall sample of theirs is waiting for
    a result yet. Two indexed lookups; safe to call on every scan."""
    if not Outcome.objects.filter(
        person_id=person_id, campaign_id=campaign_id, current=True, state=OutcomeState.RECALL
    ).exists():
        return False
    return (
        not _pending_recall_samples().filter(person_id=person_id, campaign_id=campaign_id).exists()
    )


def recollect_pending(person_id: int, campaign_id: int) -> bool:
    """Whether the person is to be swabbed again (current outcome *recollect*) and
    has not been yet (no active sample newer than that outcome's)."""
    return current_outcome(person_id, campaign_id) == OutcomeState.RECOLLECT


def _pending_recall_samples() -> QuerySet[Sample]:
    return Sample.objects.filter(
        active=True, kind=SampleKind.RECALL, tube__status__in=PENDING_TUBE_STATUSES
    )


def recall_list(
    user: Any,
    campaign: Campaign,
    *,
    state: str = OutcomeState.RECALL,
    ward: Any = None,
    resampled: bool | None = None,
) -> QuerySet[Outcome]:
    """Current outcomes *recall* (or `state` *recollect*) in `campaign` of people in
    the places where `user` may VIEW_OUTCOMES, oldest decision first.

    Each row carries its person (name, birth year, phone, address, ward), its tube
    (the pool) and release (when), and `resampled`: whether an active recall or
    recollection sample newer than the decision is waiting for a result. Filters:
    `ward` (a Place), `resampled` (True/False/None). Nobody without the permission
    sees anything.
    """
    if state not in (OutcomeState.RECALL, OutcomeState.RECOLLECT):
        state = OutcomeState.RECALL
    q = scope_filter(user, Permission.VIEW_OUTCOMES, place_path="person__ward__path")
    rows = Outcome.objects.filter(campaign=campaign, current=True, state=state)
    if q is not None:
        rows = rows.filter(q)
    if ward is not None:
        rows = rows.filter(person__ward__path__startswith=ward.path)
    newer = Sample.objects.filter(
        person_id=OuterRef("person_id"),
        campaign_id=OuterRef("campaign_id"),
        active=True,
        id__gt=OuterRef("sample_id"),
        tube__status__in=PENDING_TUBE_STATUSES,
    )
    rows = rows.annotate(resampled=Exists(newer))
    if resampled is not None:
        rows = rows.filter(resampled=resampled)
    return rows.select_related("person__ward", "tube", "release").order_by(
        "decided_at", "person__full_name", "id"
    )


def outcome_campaigns(user: Any) -> QuerySet[Campaign]:
    """Campaigns in whose province `user` may VIEW_OUTCOMES somewhere (a ward official
    sees their province's campaigns, narrowed to their ward by `recall_list`)."""
    from swabline.accounts.permissions import grants_for

    campaigns = Campaign.objects.select_related("province").order_by("-starts_on", "name")
    held = grants_for(user, Permission.VIEW_OUTCOMES)
    if any(g.kind == "everywhere" for g in held):
        return campaigns
    provinces = {g.place_path.split("/")[1] for g in held if g.place_path}
    return campaigns.filter(province_id__in=[int(p) for p in provinces if p.isdigit()])
