"""One online scan in one statement on PostgreSQL: `sampling_add_scanned(...)`.

The station sends a request per scan. Played by the sync engine, a scan took a
transaction of six round trips and ~3 ms of Python; this function does the usual
case (the person goes into an open tube of this site) in one call, in autocommit:
it locks the tube, checks what the engine would check for that case, and writes
the sample, the tube's count (closing it when full, with its audit event) and the
event log row exactly as the engine writes them (sync/quick.py has the Python
side; tests/sampling/test_quick.py compares the two).

Anything else answers NULL and writes nothing, and the engine plays the event
with everything read: an unknown or other site's tube, a tube not open or full, a
replayed event id, a person already in the tube or already sampled in the
campaign, or a unique key or trigger refusing the write (a concurrent scan won:
the EXCEPTION block rolls this call back). The tube rules stay where they were:
the constraints and triggers of migration 0002 check these writes as any others.

The literals below are values of `sampling.enums` and `messages.Reason`.
See docs/decisions/0005-station-scan-in-one-round-trip.md.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

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
    SELECT id, site_id, status, pool_limit, member_count INTO t
        FROM sampling_tube WHERE code = p_tube FOR UPDATE;
    IF NOT FOUND OR t.site_id <> p_site OR t.status <> 'open'
       OR t.member_count >= t.pool_limit THEN
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

POSTGRES_UNINSTALL = (
    "DROP FUNCTION IF EXISTS sampling_add_scanned("
    "uuid, varchar, bigint, bigint, varchar, bigint, varchar, integer, bigint, varchar,"
    " varchar, timestamptz, timestamptz, jsonb);"
)


def install(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_INSTALL, params=None)


def uninstall(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("sampling", "0003_log_without_constraints"), ("audit", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
