"""`sampling_add_scanned` adds its scan to the command center's counters itself.

The counting triggers on `sampling_sample` and `sampling_tube` are statement-level
(built for set-based writes: a sync batch, a release), so the online scan's two
single-row statements each paid a whole aggregation through a transition table, a
third of the scan's time in PostgreSQL (`pg_stat_user_functions`: 180 µs of
`dashboard_count_sample` and 42 µs of `dashboard_count_tube` against 330 µs of the
function's own work). The function knows exactly what its rows add, so it tells the
two triggers to step aside around its own INSERT and UPDATE
(`dashboard.triggers.ONE_CALL_SCAN`, local to the transaction and cleared at
once) and writes the same counts with two small upserts, in key order as the
triggers lock them:

- `samples` and `people_sampled` +1 for the site (the sample is active and normal);
- when the scan fills the tube: `tube_open` -1 and `tube_closed` +1;
- `samples` +1 for the hour of the scan (UTC), as `dashboard_hourcount` counts it.

The keys are those the triggers would write (the rows' own province and campaign,
the tube's site). The same flag tells the sample insert guard (migration 0010)
that this row was checked here, under the tube's lock, against the guard's rules:
the tube open, the position within its limit, the tube's campaign (this migration
adds that check; anything else goes to the engine). tests/sampling/test_quick.py checks that the counters come out
the same as when the engine plays the same scans and the triggers count them.
Everything else is as in migration 0004.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.db import migrations

previous = importlib.import_module("swabline.sampling.migrations.0004_scan_in_one_call")

POSTGRES_INSTALL = """
CREATE OR REPLACE FUNCTION sampling_add_scanned(
    p_event uuid, p_tube varchar, p_site bigint, p_campaign bigint, p_province varchar,
    p_person bigint, p_display varchar, p_birth_year integer,
    p_user bigint, p_actor_label varchar, p_device varchar,
    p_at timestamptz, p_now timestamptz, p_payload jsonb
) RETURNS integer[]
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    pos integer;
    full_now boolean;
BEGIN
    SELECT id, site_id, campaign_id, province_code, status, pool_limit, member_count INTO t
        FROM sampling_tube WHERE code = p_tube FOR UPDATE;
    IF NOT FOUND OR t.site_id <> p_site OR t.status <> 'open'
       OR t.member_count >= t.pool_limit OR t.campaign_id <> p_campaign THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM sampling_stationevent WHERE client_event_id = p_event;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM sampling_sample
        WHERE active AND person_id = p_person
          AND (tube_id = t.id OR (campaign_id = p_campaign AND kind = 'normal'));
    IF FOUND THEN
        RETURN NULL;
    END IF;
    pos := t.member_count + 1;
    full_now := pos = t.pool_limit;
    PERFORM set_config('swabline.one_call_scan', 'on', true);
    INSERT INTO sampling_sample (
        tube_id, person_id, campaign_id, province_code, position, kind, active,
        removed_at, collected_at, collected_by_id, received_at, client_event_id
    ) VALUES (
        t.id, p_person, p_campaign, p_province, pos, 'normal', true,
        NULL, p_at, p_user, p_now, p_event
    );
    UPDATE sampling_tube SET
        member_count = pos,
        status = CASE WHEN full_now THEN 'closed' ELSE status END,
        closed_at = CASE WHEN full_now THEN p_now ELSE closed_at END
        WHERE id = t.id;
    PERFORM set_config('swabline.one_call_scan', '', true);
    IF full_now THEN
        INSERT INTO dashboard_sitecount AS c (province_code, campaign_id, site_id, metric, n)
        VALUES (p_province, p_campaign, t.site_id, 'people_sampled', 1),
               (p_province, p_campaign, t.site_id, 'samples', 1),
               (t.province_code, t.campaign_id, t.site_id, 'tube_closed', 1),
               (t.province_code, t.campaign_id, t.site_id, 'tube_open', -1)
        ON CONFLICT (province_code, campaign_id, site_id, metric)
        DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        INSERT INTO dashboard_sitecount AS c (province_code, campaign_id, site_id, metric, n)
        VALUES (p_province, p_campaign, t.site_id, 'people_sampled', 1),
               (p_province, p_campaign, t.site_id, 'samples', 1)
        ON CONFLICT (province_code, campaign_id, site_id, metric)
        DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    INSERT INTO dashboard_hourcount AS c (province_code, campaign_id, site_id, metric, hour, n)
    VALUES (p_province, p_campaign, t.site_id, 'samples', date_trunc('hour', p_at, 'UTC'), 1)
    ON CONFLICT (province_code, campaign_id, site_id, metric, hour)
    DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO sampling_stationevent (
        client_event_id, device_id, user_id, site_id, province_code, type, tube_code,
        person_id, payload, client_at, received_at, fate, reason, resolved_at,
        resolved_by_id
    ) VALUES (
        p_event, p_device, p_user, p_site, p_province, 'add_person', p_tube,
        p_person,
        p_payload || jsonb_build_object('params', jsonb_build_object(
            'count', pos, 'limit', t.pool_limit, 'person', p_display,
            'birth_year', p_birth_year)),
        p_at, p_now, 'applied', CASE WHEN full_now THEN 'tube_full_closed' ELSE '' END,
        NULL, NULL
    );
    IF full_now THEN
        INSERT INTO audit_auditevent (
            at, actor_id, actor_label, action, subject_type, subject_id, province_code, data
        ) VALUES (
            p_now, p_user, p_actor_label, 'tube.closed', 'sampling.tube', t.id::text,
            p_province,
            jsonb_build_object('tube', p_tube, 'from', 'open', 'to', 'closed', 'auto', true,
                               'event', p_event::text)
        );
    END IF;
    RETURN ARRAY[pos, t.pool_limit];
EXCEPTION WHEN unique_violation OR check_violation THEN
    RETURN NULL;
END
$$;
"""


def install(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_INSTALL, params=None)


def restore_previous(apps: Any, schema_editor: Any) -> None:
    previous.install(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("sampling", "0008_tubelabel_province_code"),
        ("dashboard", "0004_scan_counted_by_caller"),
    ]

    operations = [migrations.RunPython(install, restore_previous, elidable=False)]
