"""The one transition function from released tube results to per-person outcomes.

`POOL_LOGIC` is the table (tube kind × result value → outcome); `decide` applies it
to every active sample of a Release's tubes with a handful of set-based statements
whatever their number (DESIGN §4, §9; TRAPS: appending outcome rows with
INSERT…SELECT, never updating wide person rows):

1. one ``CREATE TEMP TABLE … AS SELECT`` computes each member's decision beside
   their current outcome;
2. (only when a person can appear twice: recall or recollection samples) one
   DELETE keeps one decision per person;
3. one UPDATE supersedes the people's previous current outcomes;
4. one ``INSERT … SELECT`` appends the new rows.

Rules beyond the table, and why:

- **A newer individual result is kept.** A decision from sample S does not replace
  a current outcome decided from a newer sample of the same person when that one
  came from an individual tube (the individual test is the more specific one), nor
  when the new decision is not recall/positive (newer information wins). A positive
  from an older sample still puts a person on recall: a missed positive costs more
  than a second swab. So a pool corrected negative → positive moves its members to
  recall except those who already have an individual result after it.
- **Recall is sticky.** A negative decided by a pool for a person who is in a
  released positive pool without an individual negative/positive result after it
  becomes *recall* (DESIGN: "on the recall list until an individual result
  exists"); nobody in a positive pool is ever negative without an individual result.
  A recall stays attached to the pool that caused it (a second recall decision for
  someone already on recall writes nothing).
- An invalid result or a rejected tube makes its members *recollect*, whether pool
  or individual (a recall tube that fails must be taken again, individually: the
  person is still recall-bound, so their next pool negative turns into recall).
- A correction writes rows only for people whose state changes: those rows
  (`Release.outcomes`) are exactly who must be told again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.utils import timezone

from swabline.labs.enums import ResultState
from swabline.results.enums import OutcomeState
from swabline.results.models import Release
from swabline.sampling.enums import TubeKind, TubeStatus

O = OutcomeState
# (tube kind, result value) → outcome of each member. A rejected tube: RECOLLECT.
POOL_LOGIC: dict[tuple[str, str], str] = {
    (TubeKind.POOL, "negative"): O.NEGATIVE,
    (TubeKind.POOL, "positive"): O.RECALL,
    (TubeKind.POOL, "invalid"): O.RECOLLECT,
    (TubeKind.INDIVIDUAL, "negative"): O.NEGATIVE,
    (TubeKind.INDIVIDUAL, "positive"): O.POSITIVE,
    (TubeKind.INDIVIDUAL, "invalid"): O.RECOLLECT,
}
REJECTED_OUTCOME = O.RECOLLECT
# States a decision from an older sample still imposes over a newer pool's outcome.
ALARMING = (O.RECALL, O.POSITIVE)

TEMP = "results_decisions"


def outcome_for(tube_kind: str, value: str | None) -> str:
    """The table in Python (None: rejected tube), for callers and tests."""
    return REJECTED_OUTCOME if value is None else POOL_LOGIC[(tube_kind, value)]


def ids_condition(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """`column` is one of `ids`: one array parameter on PostgreSQL, a JSON array on
    SQLite (no limit on the number of host parameters either way)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [list(ids)]
    import json

    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(ids))]


def mark_released(release: Release, result_ids: Sequence[int]) -> int:
    """Release the releasable results among `result_ids` into `release` and move their
    tubes `resulted → released`. Returns the number of tubes released.

    Compare-and-set on the result's state: a concurrent release of the same results
    waits for the first and then finds nothing left to take.
    """
    if not result_ids:
        return 0
    condition, params = ids_condition("id", result_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE labs_tuberesult SET state = %s, released_by_id = %s, released_at = %s,"  # noqa: S608
            f" release_id = %s WHERE {condition} AND lab_id = %s AND current = %s AND state = %s"
            " AND tube_id IN (SELECT id FROM sampling_tube WHERE status = %s)",
            [
                ResultState.RELEASED,
                release.released_by_id,
                release.released_at,
                release.pk,
                *params,
                release.lab_id,
                True,
                ResultState.ENTERED,
                TubeStatus.RESULTED,
            ],
        )
        if not cursor.rowcount:
            return 0
        cursor.execute(
            "UPDATE sampling_tube SET status = %s WHERE status = %s"
            " AND id IN (SELECT tube_id FROM labs_tuberesult WHERE release_id = %s)",
            [TubeStatus.RELEASED, TubeStatus.RESULTED, release.pk],
        )
        return int(cursor.rowcount)


def _base_state_sql() -> str:
    """SQL CASE for POOL_LOGIC over `t.kind` and `r.value`."""
    whens = " ".join(
        f"WHEN t.kind = '{kind}' AND r.value = '{value}' THEN '{state}'"
        for (kind, value), state in POOL_LOGIC.items()
    )
    return f"CASE {whens} END"


# A person in a released positive pool without a released individual
# negative/positive result from a later sample (parameters: True × 4).
RECALL_BOUND = """EXISTS (
  SELECT 1 FROM sampling_sample s2
  JOIN sampling_tube t2 ON t2.id = s2.tube_id AND t2.kind = 'pool'
  JOIN labs_tuberesult r2 ON r2.tube_id = t2.id AND r2.current = %s
   AND r2.state = 'released' AND r2.value = 'positive'
  WHERE s2.person_id = s.person_id AND s2.campaign_id = s.campaign_id AND s2.active = %s
  AND NOT EXISTS (
    SELECT 1 FROM sampling_sample s3
    JOIN sampling_tube t3 ON t3.id = s3.tube_id AND t3.kind = 'individual'
    JOIN labs_tuberesult r3 ON r3.tube_id = t3.id AND r3.current = %s
     AND r3.state = 'released' AND r3.value IN ('negative', 'positive')
    WHERE s3.person_id = s.person_id AND s3.campaign_id = s.campaign_id
    AND s3.active = %s AND s3.id > s2.id))"""


def decide(
    release: Release,
    *,
    rejected_tube_ids: Sequence[int] | None = None,
    only_changes: bool = False,
) -> int:
    """Append the outcomes that `release` decides; returns how many rows it wrote.

    The tubes are those whose result carries `release` (a release or a correction),
    or `rejected_tube_ids` (a rejection: no result, members recollect). Side
    effects: superseded outcome rows (current False, superseded_at) and new
    current rows pointing at `release`. See the module docstring for the rules.
    """
    now = timezone.now()
    if rejected_tube_ids is not None:
        where, source_params = ids_condition("t.id", rejected_tube_ids)
        source = "sampling_tube t LEFT JOIN labs_tuberesult r ON 1 = 0"
        base = f"'{REJECTED_OUTCOME}'"
    else:
        source = "labs_tuberesult r JOIN sampling_tube t ON t.id = r.tube_id"
        where, source_params = "r.release_id = %s", [release.pk]
        base = _base_state_sql()
    alarming = ", ".join(f"'{s}'" for s in ALARMING)
    skip_same = "d.state = d.prev_state" if only_changes else "d.state = 'recall'"
    select = f"""
      SELECT * FROM (
        SELECT s.id AS sample_id, s.person_id, s.campaign_id, s.kind AS sample_kind,
          t.id AS tube_id, t.kind = 'individual' AS indiv, r.id AS result_id,
          p.province_code, o.id AS prev_id, o.state AS prev_state,
          CASE WHEN {base} = 'negative' AND o.id IS NOT NULL AND {RECALL_BOUND}
               THEN 'recall' ELSE {base} END AS state
        FROM {source}
        JOIN sampling_sample s ON s.tube_id = t.id AND s.active = %s
        JOIN people_person p ON p.id = s.person_id
        LEFT JOIN results_outcome o ON o.person_id = s.person_id
          AND o.campaign_id = s.campaign_id AND o.current = %s
        LEFT JOIN sampling_tube ot ON ot.id = o.tube_id
        WHERE {where}
        AND NOT (o.id IS NOT NULL AND o.sample_id > s.id
                 AND (ot.kind = 'individual' OR {base} NOT IN ({alarming})))
      ) d WHERE NOT (d.prev_state IS NOT NULL AND d.prev_state = d.state AND {skip_same})
    """  # noqa: S608 — only constants are interpolated
    params: list[Any] = [True, True, True, True, True, True, *source_params]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TEMP}")
        cursor.execute(f"CREATE TEMP TABLE {TEMP} AS {select}", params)
        _one_per_person(cursor)
        cursor.execute(
            f"UPDATE results_outcome SET current = %s, superseded_at = %s WHERE id IN"  # noqa: S608
            f" (SELECT prev_id FROM {TEMP} WHERE prev_id IS NOT NULL)",
            [False, now],
        )
        cursor.execute(
            "INSERT INTO results_outcome (province_code, person_id, campaign_id, state,"  # noqa: S608
            " tube_id, sample_id, result_id, release_id, current, decided_at)"
            " SELECT province_code, person_id, campaign_id, state, tube_id, sample_id,"
            f" result_id, %s, %s, %s FROM {TEMP}",
            [release.pk, True, now],
        )
        written = int(cursor.rowcount)
        cursor.execute(f"DROP TABLE {TEMP}")
    return written


def _one_per_person(cursor: Any) -> None:
    """Keep one decision per person when a recall or recollection sample puts
    someone in two of the tubes at once: the newer sample wins, unless the older
    one is alarming (recall/positive) and the newer one is only a pool."""
    cursor.execute(f"SELECT 1 FROM {TEMP} WHERE sample_kind <> 'normal' LIMIT 1")  # noqa: S608
    if cursor.fetchone() is None:
        return  # one active normal sample per person per campaign: no duplicates
    alarming = ", ".join(f"'{s}'" for s in ALARMING)
    cursor.execute(
        f"DELETE FROM {TEMP} WHERE EXISTS (SELECT 1 FROM {TEMP} y"  # noqa: S608
        f" WHERE y.person_id = {TEMP}.person_id AND y.campaign_id = {TEMP}.campaign_id"
        f" AND ((y.sample_id > {TEMP}.sample_id"
        f"       AND (y.indiv = %s OR {TEMP}.state NOT IN ({alarming})))"
        f"   OR (y.sample_id < {TEMP}.sample_id AND {TEMP}.indiv = %s"
        f"       AND y.state IN ({alarming}))))",
        [True, False],
    )
