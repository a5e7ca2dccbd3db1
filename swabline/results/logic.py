"""The one transition function from released tube results to per-person outcomes.

`POOL_LOGIC` is the table (tube kind × result value → outcome); `decide` applies it
to every active sample of a Release's tubes with a handful of set-based statements
whatever their number (DESIGN §4, §9; TRAPS: appending outcome rows with
INSERT…SELECT, never updating wide person rows):

1. one ``CREATE TEMP TABLE … AS SELECT`` computes the decisions of the members that
   need more than the table (those with a current outcome already, and those with a
   recall or recollection sample among these tubes) beside their current outcome;
2. one DELETE keeps one decision per person among them (someone in two tubes);
3. one UPDATE supersedes their previous current outcomes;
4. one ``INSERT … SELECT`` appends their new rows;
5. one ``INSERT … SELECT`` appends everyone else's — the bulk of a first release:
   a normal sample and no outcome yet, so the table alone decides.

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

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.utils import timezone

from swabline.labs.enums import ResultState
from swabline.results.enums import OutcomeState
from swabline.results.models import Release
from swabline.sampling.enums import TubeKind, TubeStatus

S = OutcomeState
# (tube kind, result value) → outcome of each member. A rejected tube: RECOLLECT.
POOL_LOGIC: dict[tuple[str, str], str] = {
    (TubeKind.POOL, "negative"): S.NEGATIVE,
    (TubeKind.POOL, "positive"): S.RECALL,
    (TubeKind.POOL, "invalid"): S.RECOLLECT,
    (TubeKind.INDIVIDUAL, "negative"): S.NEGATIVE,
    (TubeKind.INDIVIDUAL, "positive"): S.POSITIVE,
    (TubeKind.INDIVIDUAL, "invalid"): S.RECOLLECT,
}
REJECTED_OUTCOME = S.RECOLLECT
# States a decision from an older sample still imposes over a newer pool's outcome.
ALARMING = (S.RECALL, S.POSITIVE)

TEMP = "results_decisions"
# The release's results (id, tube_id, value), copied and analyzed before the bulk
# INSERT: PostgreSQL's statistics on labs_tuberesult predate the release (no row had
# this release_id), so joining from `release_id = X` it planned one row and walked
# 1,000,000 members by nested loops (2.1 s); from a table of known size it hashes
# (1.1 s with the transaction's work_mem below).
RELEASED = "results_released"
# For the release transaction only (SET LOCAL): the bulk INSERT's hash joins and the
# counting triggers' transition tables of 1,000,000 rows stay in memory instead of
# spilling to temporary files (PostgreSQL's default is 4 MB).
BULK_WORK_MEM = "256MB"


def outcome_for(tube_kind: str, value: str | None) -> str:
    """The table in Python (None: rejected tube), for callers and tests."""
    return REJECTED_OUTCOME if value is None else POOL_LOGIC[(tube_kind, value)]


def ids_condition(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """`column` is one of `ids`: one array parameter on PostgreSQL, a JSON array on
    SQLite (no limit on the number of host parameters either way)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [list(ids)]
    import json

    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(ids))]  # noqa: S608


def mark_released(release: Release, result_ids: Sequence[int]) -> int:
    """Release the releasable results among `result_ids` into `release` and move their
    tubes `resulted → released`. Returns the number of tubes released. Results of a
    names-missing tube (`Tube.names_missing_since`) are skipped until its names are
    backfilled (the tube trigger refuses the release too).

    Compare-and-set on the result's state: a concurrent release of the same results
    waits for the first and then finds nothing left to take.
    """
    if not result_ids:
        return 0
    ids = sorted(set(result_ids))
    if connection.vendor == "postgresql":
        # A join with the unnested array: a hash join, not 100,000 probes.
        source, condition, params = " FROM unnest(%s::bigint[]) AS u(id)", "r.id = u.id", [ids]
    else:
        source, condition, params = "", *ids_condition("r.id", ids)
    table = "labs_tuberesult" if connection.vendor == "sqlite" else "labs_tuberesult r"
    alias = "labs_tuberesult" if connection.vendor == "sqlite" else "r"
    condition = condition.replace("r.id", f"{alias}.id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, released_by_id = %s, released_at = %s,"  # noqa: S608
            f" release_id = %s{source} WHERE {condition} AND {alias}.lab_id = %s"
            f" AND {alias}.current = %s AND {alias}.state = %s"
            # A names-missing tube (no people yet) waits for its backfill: skipped.
            f" AND {alias}.tube_id IN (SELECT id FROM sampling_tube WHERE status = %s"
            " AND names_missing_since IS NULL)",
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
            "UPDATE sampling_tube SET status = %s FROM labs_tuberesult r"
            " WHERE r.release_id = %s AND sampling_tube.id = r.tube_id"
            " AND sampling_tube.status = %s",
            [TubeStatus.RELEASED, release.pk, TubeStatus.RESULTED],
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
    ids = list(rejected_tube_ids) if rejected_tube_ids is not None else None

    def tube_in(column: str) -> tuple[str, list[Any]]:
        if ids is not None:
            return ids_condition(column, ids)
        return f"{column} IN (SELECT tube_id FROM {RELEASED})", []  # noqa: S608

    join_params: list[Any] = []
    if ids is not None:
        where, source_params = ids_condition("t.id", ids)
        source = "sampling_tube t LEFT JOIN labs_tuberesult r ON 1 = 0"
        result_join = "LEFT JOIN labs_tuberesult r ON 1 = 0"
        base = f"'{REJECTED_OUTCOME}'"
    else:
        source = f"{RELEASED} r JOIN sampling_tube t ON t.id = r.tube_id"
        where, source_params = "1 = 1", []
        result_join = f"JOIN {RELEASED} r ON r.tube_id = t.id"
        base = _base_state_sql()
    considered, considered_params = _considered(
        result_join, join_params, tube_in, base, only_changes
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('work_mem', %s, true)", [BULK_WORK_MEM])
        cursor.execute(f"DROP TABLE IF EXISTS {RELEASED}")
        if ids is None:
            cursor.execute(
                f"CREATE TEMP TABLE {RELEASED} AS SELECT id, tube_id, value"  # noqa: S608
                " FROM labs_tuberesult WHERE release_id = %s",
                [release.pk],
            )
            cursor.execute(f"ANALYZE {RELEASED}")
        cursor.execute(f"DROP TABLE IF EXISTS {TEMP}")
        cursor.execute(f"CREATE TEMP TABLE {TEMP} AS {considered}", considered_params)
        # Every id this release's outcomes get comes after the highest one now (ids
        # only grow), so readers find its rows by a range of the primary key.
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM results_outcome")
        release.outcomes_after_id = int(cursor.fetchone()[0])
        cursor.execute(
            "UPDATE results_release SET outcomes_after_id = %s WHERE id = %s",
            [release.outcomes_after_id, release.pk],
        )
        _one_per_person(cursor)
        cursor.execute(
            f"UPDATE results_outcome SET current = %s, superseded_at = %s WHERE id IN"  # noqa: S608
            f" (SELECT prev_id FROM {TEMP} WHERE skip = 0 AND prev_id IS NOT NULL)",
            [False, now],
        )
        cursor.execute(
            f"INSERT INTO results_outcome ({OUTCOME_COLUMNS})"  # noqa: S608
            " SELECT p.province_code, d.person_id, d.campaign_id, d.state, d.tube_id,"
            f" d.sample_id, d.result_id, %s, %s, %s FROM {TEMP} d"
            " JOIN people_person p ON p.id = d.person_id WHERE d.skip = 0",
            [release.pk, True, now],
        )
        written = int(cursor.rowcount)
        # Everyone else — the bulk of a release: a normal sample, no outcome yet —
        # gets the table's outcome straight away, in one INSERT…SELECT. (Anti-joined
        # with the small temporary table, never with results_outcome itself: probing
        # the table being filled made PostgreSQL rescan the new pages per row.)
        # A first release has nobody with history: then no anti-join at all (probing
        # even an empty table cost 0.7 s over 1,000,000 members).
        cursor.execute(f"SELECT 1 FROM {TEMP} LIMIT 1")  # noqa: S608
        without_history = ""
        if cursor.fetchone() is not None:
            cursor.execute(f"ANALYZE {TEMP}")
            without_history = (
                f" AND NOT EXISTS (SELECT 1 FROM {TEMP} d"  # noqa: S608
                " WHERE d.person_id = s.person_id AND d.campaign_id = s.campaign_id)"
            )
        cursor.execute(
            f"INSERT INTO results_outcome ({OUTCOME_COLUMNS})"  # noqa: S608
            f" SELECT p.province_code, s.person_id, s.campaign_id, {base}, t.id, s.id, r.id,"
            f" %s, %s, %s FROM {source}"
            " JOIN sampling_sample s ON s.tube_id = t.id AND s.active = %s AND s.kind = 'normal'"
            " JOIN people_person p ON p.id = s.person_id"
            f" WHERE {where}{without_history}",
            [release.pk, True, now, True, *source_params],
        )
        written += int(cursor.rowcount)
        cursor.execute(f"DROP TABLE {TEMP}")
        cursor.execute(f"DROP TABLE IF EXISTS {RELEASED}")
    return written


OUTCOME_COLUMNS = (
    "province_code, person_id, campaign_id, state, tube_id, sample_id, result_id,"
    " release_id, current, decided_at"
)


def _considered(
    result_join: str,
    join_params: list[Any],
    tube_in: Callable[[str], tuple[str, list[Any]]],
    base: str,
    only_changes: bool,
) -> tuple[str, list[Any]]:
    """The members whose decision needs the rules beyond the table: those with a
    current outcome already, and those with a recall or recollection sample among
    these tubes (who may be in two of them). Usually few, and found from the small
    side (current outcomes; the few non-normal samples) without walking every
    member. `skip` marks those whose current outcome stays (a newer individual
    result; the same state)."""
    alarming = ", ".join(f"'{s}'" for s in ALARMING)
    skip_same = "d.state = d.prev_state" if only_changes else "d.state = 'recall'"
    in1, p1 = tube_in("s1.tube_id")
    in2, p2 = tube_in("s2.tube_id")
    in8, p8 = tube_in("s8.tube_id")
    sql = f"""
      SELECT d.*, CASE WHEN d.newer_kept = 1 OR (d.prev_state IS NOT NULL
          AND d.prev_state = d.state AND {skip_same}) THEN 1 ELSE 0 END AS skip
      FROM (
        SELECT s.id AS sample_id, s.person_id, s.campaign_id, s.kind AS sample_kind,
          t.id AS tube_id, t.kind = 'individual' AS indiv, r.id AS result_id,
          o.id AS prev_id, o.state AS prev_state,
          CASE WHEN {base} = 'negative' AND o.id IS NOT NULL AND {RECALL_BOUND}
               THEN 'recall' ELSE {base} END AS state,
          CASE WHEN o.id IS NOT NULL AND o.sample_id > s.id
               AND (ot.kind = 'individual' OR {base} NOT IN ({alarming}))
               THEN 1 ELSE 0 END AS newer_kept
        FROM (
          SELECT s1.id FROM results_outcome o1
          JOIN sampling_sample s1 ON s1.person_id = o1.person_id
            AND s1.campaign_id = o1.campaign_id
          WHERE o1.current = %s AND s1.active = %s AND {in1}
          UNION
          SELECT s2.id FROM sampling_sample s2
          WHERE s2.active = %s AND {in2} AND s2.person_id IN (
            SELECT s8.person_id FROM sampling_sample s8
            WHERE s8.kind <> 'normal' AND s8.active = %s AND {in8})
        ) c
        JOIN sampling_sample s ON s.id = c.id
        JOIN sampling_tube t ON t.id = s.tube_id
        {result_join}
        LEFT JOIN results_outcome o ON o.person_id = s.person_id
          AND o.campaign_id = s.campaign_id AND o.current = %s
        LEFT JOIN sampling_tube ot ON ot.id = o.tube_id
      ) d
    """  # noqa: S608 — only constants are interpolated
    params = [True] * 4 + [True, True, *p1, True, *p2, True, *p8, *join_params, True]
    return sql, params


def _one_per_person(cursor: Any) -> None:
    """Keep one decision per person when a recall or recollection sample puts
    someone in two of the tubes at once: the newer sample wins, unless the older
    one is alarming (recall/positive) and the newer one is only a pool."""
    alarming = ", ".join(f"'{s}'" for s in ALARMING)
    cursor.execute(
        f"DELETE FROM {TEMP} WHERE skip = 0 AND EXISTS (SELECT 1 FROM {TEMP} y"  # noqa: S608
        f" WHERE y.skip = 0 AND y.person_id = {TEMP}.person_id"
        f" AND y.campaign_id = {TEMP}.campaign_id"
        f" AND ((y.sample_id > {TEMP}.sample_id"
        f"       AND (y.indiv = %s OR {TEMP}.state NOT IN ({alarming})))"
        f"   OR (y.sample_id < {TEMP}.sample_id AND {TEMP}.indiv = %s"
        f"       AND y.state IN ({alarming}))))",
        [True, False],
    )
