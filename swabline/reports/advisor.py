"""The pool-size advisor: per ward, the prevalence its released results suggest and
the pool size that needs the fewest tests next round (Dorfman), within the sizes
the campaign's labs allow.

Which tests inform the estimate: released results (current, so a correction
counts once) of first-round tubes — pools by their number of people, individual
tubes as size 1. Recall tubes are left out: they are taken *because* a pool was
positive, so counting them would inflate the prevalence; the pool they follow
already counts. Invalid results say nothing about infection and are left out too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Q

from swabline.campaigns.models import Campaign
from swabline.labs.enums import ResultState, ResultValue
from swabline.labs.models import TubeResult
from swabline.places.models import Place
from swabline.reports import maths
from swabline.reports.models import PoolSizePolicy
from swabline.reports.queries import ReportScope

# The population a recommendation is priced for when a ward has no target.
PER_PEOPLE = 1000


def sizes_for(campaign: Campaign) -> list[int]:
    """The sizes the advisor may recommend for `campaign` (its policy, or 1, 3, 5,
    10), never above the campaign's pool size limit."""
    policy = PoolSizePolicy.objects.filter(campaign=campaign).first()
    sizes = policy.sizes if policy else maths.DEFAULT_POOL_SIZES
    return maths.allowed_sizes(sizes, campaign.pool_size_limit)


@dataclass(frozen=True)
class Advice:
    ward: Place | None  # None: the whole scope
    tubes: int
    positive_tubes: int
    people_tested: int
    prevalence: float | None
    recommended: int | None
    options: list[maths.Option]


def groups_by_ward(scope: ReportScope) -> dict[int, list[maths.TubeGroup]]:
    """Per ward, its tests as (size, tubes, positive) groups: one grouped query."""
    rows = (
        TubeResult.objects.filter(
            current=True,
            state=ResultState.RELEASED,
            value__in=(ResultValue.POSITIVE, ResultValue.NEGATIVE),
            tube__campaign=scope.campaign,
            tube__is_recall=False,
            tube__site__ward_id__in=scope.ward_ids,
        )
        .values("tube__site__ward_id", "tube__member_count")
        .annotate(n=Count("id"), positive=Count("id", filter=Q(value=ResultValue.POSITIVE)))
    )
    found: dict[int, list[maths.TubeGroup]] = defaultdict(list)
    for row in rows:
        if row["tube__member_count"]:
            found[row["tube__site__ward_id"]].append(
                maths.TubeGroup(row["tube__member_count"], row["n"], row["positive"])
            )
    return found


def advise(scope: ReportScope, targets: dict[int, int] | None = None) -> list[Advice]:
    """One piece of advice per ward of the scope, then one for all of them
    together. `targets` (ward id → target population) prices the options for the
    ward's population; without one, per 1,000 people."""
    sizes = sizes_for(scope.campaign)
    targets = targets or {}
    by_ward = groups_by_ward(scope)
    advice = [_advice(w, by_ward.get(w.pk, []), sizes, targets.get(w.pk, 0)) for w in scope.wards]
    everything = [g for groups in by_ward.values() for g in groups]
    advice.append(_advice(None, everything, sizes, sum(targets.values())))
    return advice


def _advice(
    ward: Place | None, groups: list[maths.TubeGroup], sizes: list[int], target: int
) -> Advice:
    p = maths.prevalence_mle(groups)
    people = target or PER_PEOPLE
    return Advice(
        ward=ward,
        tubes=sum(g.tests for g in groups),
        positive_tubes=sum(g.positive for g in groups),
        people_tested=sum(g.tests * g.size for g in groups),
        prevalence=p,
        recommended=None if p is None else maths.best_size(sizes, p),
        options=[] if p is None else maths.options(sizes, p, people),
    )
