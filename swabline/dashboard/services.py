"""Writes of the command center: rebuilding the rollups, the alarm thresholds.

The rollups are kept by triggers (migration 0002); `rebuild_rollups` recounts a
campaign from the base tables set-based (after a manual repair, a restore, or
rows deleted on SQLite, whose triggers do not count deletions), and `recount` /
`differences` let tests and operators check that the counters equal a recount.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from django.db import connection, transaction
from django.utils import timezone

from swabline.audit import services as audit
from swabline.campaigns.models import Campaign
from swabline.dashboard.models import AlarmThresholds, HourCount, SiteCount, WardCount


def _hour(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"date_trunc('hour', {column}, 'UTC')"
    return f"strftime('%%Y-%%m-%%d %%H:00:00', {column})"


def _site_sql() -> str:
    return """
      SELECT t.site_id, 'tube_' || t.status, count(*) FROM sampling_tube t
       WHERE t.campaign_id = %(c)s GROUP BY t.site_id, t.status
      UNION ALL
      SELECT t.site_id, 'samples', count(*) FROM sampling_sample s
        JOIN sampling_tube t ON t.id = s.tube_id
       WHERE s.campaign_id = %(c)s AND s.active GROUP BY t.site_id
      UNION ALL
      SELECT t.site_id, 'people_sampled', count(*) FROM sampling_sample s
        JOIN sampling_tube t ON t.id = s.tube_id
       WHERE s.campaign_id = %(c)s AND s.active AND s.kind = 'normal' GROUP BY t.site_id
      UNION ALL
      SELECT t.site_id, 'positive_pools', count(*) FROM labs_tuberesult r
        JOIN sampling_tube t ON t.id = r.tube_id
       WHERE t.campaign_id = %(c)s AND r.current AND r.state = 'released'
         AND r.value = 'positive' AND t.kind = 'pool' GROUP BY t.site_id
      UNION ALL
      SELECT t.site_id, 'outcome_' || o.state, count(*) FROM results_outcome o
        JOIN sampling_tube t ON t.id = o.tube_id
       WHERE o.campaign_id = %(c)s AND o.current GROUP BY t.site_id, o.state
    """


def _hour_sql() -> str:
    sample_hour = _hour("s.collected_at")
    release_hour = _hour("r.released_at")
    recall_hour = _hour("o.decided_at")
    return f"""
      SELECT t.site_id, 'samples', {sample_hour}, count(*) FROM sampling_sample s
        JOIN sampling_tube t ON t.id = s.tube_id
       WHERE s.campaign_id = %(c)s AND s.active GROUP BY t.site_id, {sample_hour}
      UNION ALL
      SELECT t.site_id, 'released', {release_hour}, count(*) FROM labs_tuberesult r
        JOIN sampling_tube t ON t.id = r.tube_id
       WHERE t.campaign_id = %(c)s AND r.released_at IS NOT NULL
       GROUP BY t.site_id, {release_hour}
      UNION ALL
      SELECT t.site_id, 'recall', {recall_hour}, count(*) FROM results_outcome o
        JOIN sampling_tube t ON t.id = o.tube_id
       WHERE o.campaign_id = %(c)s AND o.current AND o.state = 'recall'
       GROUP BY t.site_id, {recall_hour}
    """  # noqa: S608 — only constants are interpolated


WARD_SQL = """
  SELECT p.ward_id, count(*) FROM people_person p
   WHERE p.province_code = %(p)s AND p.merged_into_id IS NULL GROUP BY p.ward_id
"""


@dataclass(frozen=True)
class Counts:
    """Counters of one campaign: per (site, metric), per (site, metric, hour), and
    registered people per ward of its province. Zeros are left out."""

    sites: dict[tuple[int, str], int]
    hours: dict[tuple[int, str, dt.datetime], int]
    wards: dict[int, int]


def _as_hour(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def recount(campaign: Campaign) -> Counts:
    """The counters computed directly from the base tables (three grouped queries)."""
    params: dict[str, int | str] = {"c": campaign.pk, "p": campaign.province_code}
    with connection.cursor() as cursor:
        cursor.execute(_site_sql(), params)
        sites = {(s, m): int(n) for s, m, n in cursor.fetchall() if n}
        cursor.execute(_hour_sql(), params)
        hours = {(s, m, _as_hour(h)): int(n) for s, m, h, n in cursor.fetchall() if n}
        cursor.execute(WARD_SQL, params)
        wards = {w: int(n) for w, n in cursor.fetchall() if n}
    return Counts(sites, hours, wards)


def stored(campaign: Campaign) -> Counts:
    """The counters as the triggers left them (zeros left out)."""
    sites = {
        (s, m): n
        for s, m, n in SiteCount.objects.filter(
            province_code=campaign.province_code, campaign=campaign
        )
        .exclude(n=0)
        .values_list("site_id", "metric", "n")
    }
    hours = {
        (s, m, _as_hour(h)): n
        for s, m, h, n in HourCount.objects.filter(
            province_code=campaign.province_code, campaign=campaign
        )
        .exclude(n=0)
        .values_list("site_id", "metric", "hour", "n")
    }
    wards = dict(
        WardCount.objects.filter(ward__province_code=campaign.province_code)
        .exclude(registered=0)
        .values_list("ward_id", "registered")
    )
    return Counts(sites, hours, wards)


def differences(campaign: Campaign) -> list[str]:
    """Every counter of `campaign` that differs from a recount, as readable lines
    (empty when the rollups are exact)."""
    want, have = recount(campaign), stored(campaign)
    out: list[str] = []
    for name in ("sites", "hours", "wards"):
        a, b = getattr(want, name), getattr(have, name)
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key, 0) != b.get(key, 0):
                out.append(f"{name} {key}: stored {b.get(key, 0)}, recount {a.get(key, 0)}")
    return out


def rebuild_rollups(campaign: Campaign, *, by: Any | None = None) -> None:
    """Replace `campaign`'s counters (and its province's registered counts) by a
    set-based recount, in one transaction.

    On PostgreSQL the counter tables are locked against concurrent triggers for the
    duration, so an event committing meanwhile is counted exactly once (its trigger
    waits and adds to the recount, which did not see it).
    """
    params: dict[str, int | str] = {"c": campaign.pk, "p": campaign.province_code}
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "LOCK TABLE dashboard_sitecount, dashboard_hourcount, dashboard_wardcount"
                " IN SHARE ROW EXCLUSIVE MODE"
            )
        for table in ("dashboard_sitecount", "dashboard_hourcount"):
            cursor.execute(
                f"DELETE FROM {table} WHERE province_code = %(p)s AND campaign_id = %(c)s",  # noqa: S608
                params,
            )
        cursor.execute(
            "DELETE FROM dashboard_wardcount WHERE ward_id IN"
            " (SELECT id FROM places_place WHERE province_code = %(p)s)",
            params,
        )
        # A campaign's sites are all in its province.
        into_sites = (
            "INSERT INTO dashboard_sitecount (province_code, campaign_id, site_id, metric, n)"
        )
        cursor.execute(f"{into_sites} SELECT %(p)s, %(c)s, x.* FROM ({_site_sql()}) x", params)  # noqa: S608 — constants only
        into_hours = (
            "INSERT INTO dashboard_hourcount (province_code, campaign_id, site_id, metric, hour, n)"
        )
        cursor.execute(f"{into_hours} SELECT %(p)s, %(c)s, x.* FROM ({_hour_sql()}) x", params)  # noqa: S608
        cursor.execute(f"INSERT INTO dashboard_wardcount (ward_id, registered) {WARD_SQL}", params)
        if connection.vendor == "postgresql":
            # Many rows replaced at once: give the planner fresh numbers for the reads.
            cursor.execute("ANALYZE dashboard_sitecount, dashboard_hourcount, dashboard_wardcount")
        audit.record(
            by=by,
            action="dashboard.rollups_rebuilt",
            subject=campaign,
            province_code=campaign.province_code,
        )


THRESHOLD_FIELDS = (
    "open_minutes",
    "closed_minutes",
    "shipped_minutes",
    "received_minutes",
    "resulted_minutes",
    "recall_minutes",
)


def thresholds(campaign: Campaign) -> AlarmThresholds:
    """The campaign's thresholds, or the defaults (unsaved) when none were set."""
    try:
        # Read with the campaign when it was fetched `select_related("alarm_thresholds")`.
        found: AlarmThresholds = cast(Any, campaign).alarm_thresholds
        return found
    except AlarmThresholds.DoesNotExist:
        return AlarmThresholds(campaign=campaign)


def set_thresholds(*, by: Any, campaign: Campaign, minutes: dict[str, int]) -> AlarmThresholds:
    """Save `campaign`'s alarm thresholds (minutes per step), audited."""
    with transaction.atomic():
        row, _ = AlarmThresholds.objects.select_for_update().get_or_create(campaign=campaign)
        before = {f: getattr(row, f) for f in THRESHOLD_FIELDS}
        for field in THRESHOLD_FIELDS:
            if field in minutes:
                setattr(row, field, int(minutes[field]))
        row.updated_by = by
        row.full_clean()
        row.save()
        audit.record(
            by=by,
            action="dashboard.thresholds_set",
            subject=campaign,
            province_code=campaign.province_code,
            before=before,
            after={f: getattr(row, f) for f in THRESHOLD_FIELDS},
        )
    return row
