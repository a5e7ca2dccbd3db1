"""Turnaround times: how long a sample takes from the swab to the lab, to a result,
to its release, and to the person's phone.

One SQL statement per report. A tube's times are its first active sample's
collection (station clock), its receipt at the lab (`ShipmentTube.received_at`),
its first result entered and first released (a correction keeps the first
release's time), and per decided outcome the first delivered notification. On
PostgreSQL the median and p90 are computed by `percentile_cont` in the database;
SQLite has no ordered-set aggregates, so the same statement returns the durations
and `maths.percentile` interpolates exactly as `percentile_cont` does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils.translation import gettext_lazy as _

from swabline.labs.enums import ResultState
from swabline.labs.models import Lab
from swabline.notifications.enums import Status
from swabline.places.models import Place
from swabline.reports.maths import percentile
from swabline.reports.queries import ReportScope

# (key, label): the intervals measured, in the page's column order.
METRICS = (
    ("receipt", _("Sample → lab receipt")),
    ("result", _("Receipt → result")),
    ("release", _("Result → release")),
    ("total", _("Sample → release")),
    ("notified", _("Sample → person notified")),
)
METRIC_KEYS = tuple(key for key, _label in METRICS)


@dataclass(frozen=True)
class Stat:
    """Durations in seconds: how many, their median and 90th percentile."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass
class Turnaround:
    scope: ReportScope
    wards: list[tuple[Place, dict[str, Stat]]]
    labs: list[tuple[Lab, dict[str, Stat]]]
    total: dict[str, Stat] = field(default_factory=dict)


def _seconds(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _durations_sql(ward_ids: list[int]) -> str:
    """`d(ward_id, lab_id, metric, seconds)`: one row per measured interval."""
    wards = ", ".join(["%s"] * len(ward_ids))
    discarded = ResultState.DISCARDED.value
    # A receipt saying the handset never got it turns a delivered row into a
    # permanent failure (its delivered_at stays): only delivered rows count.
    delivered = Status.DELIVERED.value
    sql = f"""
    WITH tubes AS (
      SELECT t.id, site.ward_id, sm.sampled_at, rc.received_at,
             COALESCE(r.lab_id, rc.lab_id) AS lab_id, r.entered_at, r.released_at
      FROM sampling_tube t
      JOIN campaigns_site site ON site.id = t.site_id
      JOIN (SELECT tube_id, MIN(collected_at) AS sampled_at FROM sampling_sample
            WHERE campaign_id = %s AND active = %s GROUP BY tube_id) sm ON sm.tube_id = t.id
      LEFT JOIN (SELECT st.tube_id, MIN(st.received_at) AS received_at, MIN(sh.lab_id) AS lab_id
                 FROM shipping_shipmenttube st
                 JOIN shipping_shipment sh ON sh.id = st.shipment_id
                 WHERE sh.campaign_id = %s AND st.received_at IS NOT NULL
                 GROUP BY st.tube_id) rc ON rc.tube_id = t.id
      LEFT JOIN (SELECT tube_id, MIN(entered_at) AS entered_at,
                        MIN(released_at) AS released_at, MIN(lab_id) AS lab_id
                 FROM labs_tuberesult
                 WHERE state <> '{discarded}'
                   AND tube_id IN (SELECT id FROM sampling_tube WHERE campaign_id = %s)
                 GROUP BY tube_id) r ON r.tube_id = t.id
      WHERE t.campaign_id = %s AND site.ward_id IN ({wards})
    ),
    notified AS (
      SELECT o.id, site.ward_id, r.lab_id, sm.collected_at, MIN(n.delivered_at) AS delivered_at
      FROM results_outcome o
      JOIN sampling_sample sm ON sm.id = o.sample_id
      JOIN sampling_tube t ON t.id = o.tube_id
      JOIN campaigns_site site ON site.id = t.site_id
      LEFT JOIN labs_tuberesult r ON r.id = o.result_id
      JOIN notifications_notification n ON n.outcome_id = o.id
        AND n.status = '{delivered}' AND n.delivered_at IS NOT NULL
      WHERE o.campaign_id = %s AND site.ward_id IN ({wards})
      GROUP BY o.id, site.ward_id, r.lab_id, sm.collected_at
    ),
    d AS (
      SELECT ward_id, lab_id, 'receipt' AS metric,
             {_seconds("received_at", "sampled_at")} AS seconds
        FROM tubes WHERE received_at IS NOT NULL
      UNION ALL
      SELECT ward_id, lab_id, 'result', {_seconds("entered_at", "received_at")}
        FROM tubes WHERE entered_at IS NOT NULL AND received_at IS NOT NULL
      UNION ALL
      SELECT ward_id, lab_id, 'release', {_seconds("released_at", "entered_at")}
        FROM tubes WHERE released_at IS NOT NULL
      UNION ALL
      SELECT ward_id, lab_id, 'total', {_seconds("released_at", "sampled_at")}
        FROM tubes WHERE released_at IS NOT NULL
      UNION ALL
      SELECT ward_id, lab_id, 'notified', {_seconds("delivered_at", "collected_at")}
        FROM notified
    )
    """  # noqa: S608 -- only placeholders and constants are interpolated
    return sql


def _stats_postgresql(sql: str, params: list[Any]) -> list[tuple[str, int | None, str, Stat]]:
    pct = (
        "COUNT(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds), "
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)"
    )
    query = f"""{sql}
    SELECT 'ward', ward_id, metric, {pct} FROM d GROUP BY ward_id, metric
    UNION ALL
    SELECT 'lab', lab_id, metric, {pct} FROM d WHERE lab_id IS NOT NULL GROUP BY lab_id, metric
    UNION ALL
    SELECT 'all', NULL, metric, {pct} FROM d GROUP BY metric
    """  # noqa: S608 -- as above
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [
            (dim, key, metric, Stat(n, _float(median), _float(p90)))
            for dim, key, metric, n, median, p90 in cursor.fetchall()
        ]


def _stats_python(sql: str, params: list[Any]) -> list[tuple[str, int | None, str, Stat]]:
    groups: dict[tuple[str, int | None, str], list[float]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} SELECT ward_id, lab_id, metric, seconds FROM d", params)  # noqa: S608
        for ward_id, lab_id, metric, seconds in cursor.fetchall():
            groups["ward", ward_id, metric].append(float(seconds))
            if lab_id is not None:
                groups["lab", lab_id, metric].append(float(seconds))
            groups["all", None, metric].append(float(seconds))
    return [
        (dim, key, metric, Stat(len(v), percentile(v, 0.5), percentile(v, 0.9)))
        for (dim, key, metric), v in groups.items()
    ]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _params(campaign_id: int, ward_ids: list[int]) -> list[Any]:
    """In the order of `_durations_sql`'s placeholders."""
    return [
        campaign_id,
        True,
        campaign_id,
        campaign_id,
        campaign_id,
        *ward_ids,
        campaign_id,
        *ward_ids,
    ]


def turnaround(scope: ReportScope) -> Turnaround:
    """Median and p90 of each interval per ward, per lab, and over the scope."""
    if not scope.wards:
        return Turnaround(scope=scope, wards=[], labs=[], total={})
    sql = _durations_sql(scope.ward_ids)
    params = _params(scope.campaign.pk, scope.ward_ids)
    compute = _stats_postgresql if connection.vendor == "postgresql" else _stats_python
    found: dict[tuple[str, int | None], dict[str, Stat]] = defaultdict(dict)
    for dim, key, metric, stat in compute(sql, params):
        found[dim, key][metric] = stat
    lab_ids = [key for dim, key in found if dim == "lab" and key is not None]
    labs = Lab.objects.filter(pk__in=lab_ids).order_by("name", "pk")
    return Turnaround(
        scope=scope,
        wards=[(w, found.get(("ward", w.pk), {})) for w in scope.wards],
        labs=[(lab, found["lab", lab.pk]) for lab in labs],
        total=found.get(("all", None), {}),
    )


def format_duration(seconds: float | None) -> str:
    """`7 h 40 min`, `25 min`, `2 d 3 h`; an em dash for nothing measured."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    sign = "−" if minutes < 0 else ""
    minutes = abs(minutes)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {mins:02d} min"
    return f"{sign}{mins} min"
