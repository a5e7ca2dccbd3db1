"""`sampling_play_batch`: a synced batch's usual case in one database call (issue #4).

A station coming back online sends its outbox: tubes it opened and the people it
scanned into them, nothing else, every event new and every one of them fine. The
engine (`sampling.sync`) plays such a batch in Python and writes it with a dozen
set-based statements; this function checks the same rules for the whole batch at
once and, when every event would be applied, writes the same rows in one call.
Anything else — a replayed event id, a tube already known or at another site, a
label refused or issued to another site, a person already sampled in the campaign
or named twice, a tube overfilled — and it answers NULL having written nothing,
and the engine plays the batch with everything read: every rule and every fate
other than "applied" stays the engine's (`sampling/sync/batch.py` says which
batches are offered).

The arguments are parallel arrays in the station's order (ids, types, tube codes,
kinds, person ids, display names, years of birth, scan kinds, clocks, sequence
numbers, whether the campaign's supplier pattern accepts an opened code). The
answer is the position each event took (0 for an open) followed by its tube's limit.

What it writes, as the engine would: the batch's existing tubes locked in code
order, their counts and statuses (full tubes close); the new tubes (already in
their final state: count, status, closed_at); the samples, in the station's order;
the labels used; the event log (one row per event, the engine's payload); the audit
events (`tube.opened`, and `tube.closed` with `auto` for a tube that filled). Its
own writes are counted by itself, as `sampling_add_scanned` counts its one scan
(migration 0009): the flag `swabline.one_call_scan` tells the tube and sample
counting triggers and the sample insert guard to step aside, and the function
adds the same numbers to `dashboard_sitecount` and `dashboard_hourcount`.
tests/sampling/test_batch.py plays batches both ways and compares every row.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

POSTGRES_INSTALL = """
CREATE OR REPLACE FUNCTION sampling_play_batch(
    p_site bigint, p_campaign bigint, p_province varchar, p_pool_limit integer,
    p_user bigint, p_actor_label varchar, p_device varchar, p_now timestamptz,
    p_ids uuid[], p_types varchar[], p_tubes varchar[], p_kinds varchar[],
    p_persons bigint[], p_displays varchar[], p_years integer[], p_scans varchar[],
    p_ats timestamptz[], p_seqs integer[], p_supplier_ok boolean[]
) RETURNS integer[]
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    ok boolean;
    places integer[];
    limits integer[];
    added integer;
    closed_old integer;
    opened_open integer;
    closed_new integer;
    opened varchar[];
    codes varchar[];
BEGIN
    codes := ARRAY(SELECT DISTINCT c FROM unnest(p_tubes) AS c);
    -- The batch's existing tubes, locked in code order as the engine locks them.
    PERFORM 1 FROM sampling_tube WHERE code = ANY(codes) ORDER BY code FOR UPDATE;

    WITH e AS (
        SELECT * FROM unnest(p_ids, p_types, p_tubes, p_kinds, p_persons, p_supplier_ok)
            WITH ORDINALITY AS e(id, type, tube, kind, person, supplier_ok, ord)
    ), x AS (
        SELECT t.id, t.code, t.site_id, t.campaign_id, t.status, t.pool_limit, t.member_count
        FROM sampling_tube t WHERE t.code = ANY(codes)
    ), o AS (
        SELECT e.tube, min(e.ord) AS ord, count(*) AS n,
               CASE WHEN min(e.kind) = 'individual' THEN 1 ELSE p_pool_limit END AS lim
        FROM e WHERE e.type = 'open_tube' GROUP BY e.tube
    ), a AS (
        SELECT e.ord, e.person,
               COALESCE(x.member_count, 0)
                   + row_number() OVER (PARTITION BY e.tube ORDER BY e.ord) AS place,
               COALESCE(x.pool_limit, o.lim) AS lim,
               CASE WHEN x.id IS NOT NULL
                    THEN o.tube IS NULL AND x.site_id = p_site AND x.campaign_id = p_campaign
                         AND x.status = 'open'
                    ELSE COALESCE(o.ord < e.ord, false) END AS tube_ok
        FROM e LEFT JOIN x ON x.code = e.tube LEFT JOIN o ON o.tube = e.tube
        WHERE e.type = 'add_person'
    ), v AS (
        SELECT e.ord, COALESCE(a.place, 0) AS place, COALESCE(a.lim, o.lim) AS lim
        FROM e LEFT JOIN a ON a.ord = e.ord LEFT JOIN o ON o.ord = e.ord
    )
    SELECT
        COALESCE((SELECT bool_and(tube_ok AND place <= lim) FROM a), true)
        AND (SELECT count(DISTINCT person) = count(*) FROM a)
        AND NOT EXISTS (SELECT 1 FROM o WHERE o.n > 1 OR o.tube IN (SELECT code FROM x))
        AND NOT EXISTS (
            SELECT 1 FROM o JOIN e ON e.ord = o.ord
                LEFT JOIN sampling_tubelabel l ON l.code = o.tube
            WHERE CASE WHEN l.code IS NULL THEN NOT e.supplier_ok
                       ELSE l.campaign_id <> p_campaign OR l.used_at IS NOT NULL
                            OR (l.site_id IS NOT NULL AND l.site_id <> p_site) END)
        AND NOT EXISTS (
            SELECT 1 FROM sampling_sample s
            WHERE s.active AND s.kind = 'normal' AND s.campaign_id = p_campaign
              AND s.person_id = ANY(p_persons))
        AND NOT EXISTS (
            SELECT 1 FROM sampling_sample s
            WHERE s.active AND s.tube_id IN (SELECT id FROM x)
              AND s.person_id = ANY(p_persons))
        AND NOT EXISTS (SELECT 1 FROM sampling_stationevent WHERE client_event_id = ANY(p_ids)),
        (SELECT array_agg(place ORDER BY ord) FROM v),
        (SELECT array_agg(lim ORDER BY ord) FROM v)
    INTO ok, places, limits;
    IF NOT ok THEN
        RETURN NULL;
    END IF;

    opened := ARRAY(SELECT u.tube FROM unnest(p_types, p_tubes) AS u(type, tube)
                    WHERE u.type = 'open_tube');
    SELECT count(*) FILTER (WHERE e.type = 'add_person'),
           count(*) FILTER (WHERE e.type = 'add_person' AND e.place = e.lim
                            AND e.tube <> ALL(opened)),
           count(*) FILTER (WHERE e.type = 'add_person' AND e.place = e.lim
                            AND e.tube = ANY(opened))
        INTO added, closed_old, closed_new
        FROM unnest(p_types, p_tubes, places, limits) AS e(type, tube, place, lim);
    opened_open := cardinality(opened) - closed_new;

    PERFORM set_config('swabline.one_call_scan', 'on', true);
    UPDATE sampling_tube t SET
        member_count = f.n,
        status = CASE WHEN f.n = t.pool_limit THEN 'closed' ELSE t.status END,
        closed_at = CASE WHEN f.n = t.pool_limit THEN p_now ELSE t.closed_at END
        FROM (SELECT e.tube, max(e.place) AS n
              FROM unnest(p_types, p_tubes, places) AS e(type, tube, place)
              WHERE e.type = 'add_person' GROUP BY e.tube) f
        WHERE t.code = f.tube;
    WITH e AS (
        SELECT * FROM unnest(p_types, p_tubes, p_kinds, p_ats, places, limits)
            WITH ORDINALITY AS e(type, tube, kind, at, place, lim, ord)
    ), f AS (
        SELECT e.tube, max(e.place) AS n FROM e WHERE e.type = 'add_person' GROUP BY e.tube
    )
    INSERT INTO sampling_tube (
        code, campaign_id, site_id, province_code, kind, status, pool_limit, member_count,
        is_recall, opened_by_id, opened_at, client_opened_at, closed_at, voided_reason,
        names_missing_since
    )
    SELECT e.tube, p_campaign, p_site, p_province,
           CASE WHEN e.kind = 'individual' THEN 'individual' ELSE 'pool' END,
           CASE WHEN f.n = e.lim THEN 'closed' ELSE 'open' END, e.lim, COALESCE(f.n, 0),
           false, p_user, p_now, e.at, CASE WHEN f.n = e.lim THEN p_now END, '', NULL
    FROM e LEFT JOIN f ON f.tube = e.tube WHERE e.type = 'open_tube' ORDER BY e.ord;
    INSERT INTO sampling_sample (
        tube_id, person_id, campaign_id, province_code, position, kind, active,
        removed_at, collected_at, collected_by_id, received_at, client_event_id
    )
    SELECT t.id, e.person, p_campaign, p_province, e.place, 'normal', true,
           NULL, e.at, p_user, p_now, e.id
    FROM unnest(p_ids, p_types, p_tubes, p_persons, p_ats, places)
            WITH ORDINALITY AS e(id, type, tube, person, at, place, ord)
        JOIN (SELECT id, code FROM sampling_tube WHERE code = ANY(codes)) t ON t.code = e.tube
    WHERE e.type = 'add_person' ORDER BY e.ord;
    PERFORM set_config('swabline.one_call_scan', '', true);

    UPDATE sampling_tubelabel SET used_at = p_now
        WHERE used_at IS NULL AND code = ANY(opened);

    -- What the counting triggers would have added, in the order they lock the rows.
    INSERT INTO dashboard_sitecount AS c (province_code, campaign_id, site_id, metric, n)
    SELECT p_province, p_campaign, p_site, m.metric, m.n
    FROM (VALUES ('people_sampled', added), ('samples', added),
                 ('tube_closed', closed_old + closed_new),
                 ('tube_open', opened_open - closed_old)) AS m(metric, n)
    WHERE m.n <> 0 ORDER BY m.metric
    ON CONFLICT (province_code, campaign_id, site_id, metric)
    DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO dashboard_hourcount AS c (province_code, campaign_id, site_id, metric, hour, n)
    SELECT p_province, p_campaign, p_site, 'samples', date_trunc('hour', e.at, 'UTC'), count(*)
    FROM unnest(p_types, p_ats) AS e(type, at) WHERE e.type = 'add_person'
    GROUP BY 5 ORDER BY 5
    ON CONFLICT (province_code, campaign_id, site_id, metric, hour)
    DO UPDATE SET n = c.n + EXCLUDED.n;

    INSERT INTO sampling_stationevent (
        client_event_id, device_id, user_id, site_id, province_code, type, tube_code,
        person_id, payload, client_at, received_at, fate, reason, resolved_at,
        resolved_by_id
    )
    SELECT e.id, p_device, p_user, p_site, p_province, e.type, e.tube, e.person,
           jsonb_strip_nulls(jsonb_build_object(
               'seq', e.seq, 'kind', NULLIF(e.kind, ''), 'scan', NULLIF(e.scan, '')))
           || jsonb_build_object('params', CASE WHEN e.type = 'open_tube'
                THEN jsonb_build_object('tube', e.tube, 'limit', e.lim)
                ELSE jsonb_build_object('count', e.place, 'limit', e.lim,
                                        'person', e.display, 'birth_year', e.year) END),
           e.at, p_now, 'applied',
           CASE WHEN e.type = 'add_person' AND e.place = e.lim THEN 'tube_full_closed'
                ELSE '' END,
           NULL, NULL
    FROM unnest(p_ids, p_types, p_tubes, p_kinds, p_persons, p_displays, p_years, p_scans,
                p_ats, p_seqs, places, limits)
            WITH ORDINALITY AS e(id, type, tube, kind, person, display, year, scan, at, seq,
                                 place, lim, ord)
    ORDER BY e.ord;

    INSERT INTO audit_auditevent (
        at, actor_id, actor_label, action, subject_type, subject_id, province_code, data
    )
    SELECT p_now, p_user, p_actor_label, a.action, 'sampling.tube', t.id::text, p_province,
           a.data
    FROM (
        SELECT e.ord, e.tube, 'tube.opened' AS action,
               jsonb_build_object('tube', e.tube,
                   'kind', CASE WHEN e.kind = '' THEN 'pool' ELSE e.kind END,
                   'event', e.id::text) AS data
        FROM unnest(p_ids, p_types, p_tubes, p_kinds) WITH ORDINALITY AS e(id, type, tube, kind, ord)
        WHERE e.type = 'open_tube'
        UNION ALL
        SELECT e.ord, e.tube, 'tube.closed',
               jsonb_build_object('tube', e.tube, 'from', 'open', 'to', 'closed',
                                  'auto', true, 'event', e.id::text)
        FROM unnest(p_ids, p_types, p_tubes, places, limits)
                WITH ORDINALITY AS e(id, type, tube, place, lim, ord)
        WHERE e.type = 'add_person' AND e.place = e.lim
    ) a JOIN (SELECT id, code FROM sampling_tube WHERE code = ANY(codes)) t ON t.code = a.tube
    ORDER BY a.ord;

    RETURN places || limits;
END
$$;
"""

POSTGRES_UNINSTALL = """
DROP FUNCTION IF EXISTS sampling_play_batch(
    bigint, bigint, varchar, integer, bigint, varchar, varchar, timestamptz,
    uuid[], varchar[], varchar[], varchar[], bigint[], varchar[], integer[], varchar[],
    timestamptz[], integer[], boolean[]);
"""


def install(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_INSTALL, params=None)


def uninstall(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("sampling", "0012_tube_status_updates_in_place"),
        ("dashboard", "0005_counting_without_jit"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
