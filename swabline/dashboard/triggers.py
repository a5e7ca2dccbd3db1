"""The triggers that keep the command center's counters current, on SQLite and PostgreSQL
(installed by migrations 0002 and, with the province in every counter's key, 0003).

Every counted event is a row written to one of five tables; a trigger on each adds
the change to `dashboard_sitecount` (per province, campaign, site and metric),
`dashboard_hourcount` (the same per UTC hour, for the charts) or
`dashboard_wardcount` (registered people per ward), in the event's transaction.
A counter row takes its province from the counted row (tubes, samples, results and
outcomes all carry their site's province). The table of what counts, and why the
triggers are statement-level on PostgreSQL and row-level on SQLite, is in migration
0002's docstring. A migration that changes these definitions drops the triggers with
`uninstall` and installs the new ones with `install`; a migration that makes Django
rebuild a counted table on SQLite drops its triggers too: run `install` again
(tests/dashboard/test_rollups.py fails if a trigger is missing).
"""

from __future__ import annotations

from typing import Any

SITE = ("dashboard_sitecount", ("province_code", "campaign_id", "site_id", "metric"), "n")
HOUR = ("dashboard_hourcount", ("province_code", "campaign_id", "site_id", "metric", "hour"), "n")
WARD = ("dashboard_wardcount", ("ward_id",), "registered")

# Per table: what decides whether a row counts and where (written once, over a
# row alias `r`), and which columns an UPDATE must change to matter.
# (target, key expressions, condition); `{site}` is the row's tube's site.
TABLES: dict[str, dict[str, Any]] = {
    "sampling_tube": {
        "site": "r.site_id",
        "join": "",
        "contributions": [
            (SITE, ["r.province_code", "r.campaign_id", "{site}", "'tube_' || r.status"], "1=1")
        ],
        "changed": ["status", "site_id", "campaign_id"],
        "counted_by_caller": True,
    },
    "sampling_sample": {
        "site": "t.site_id",
        "join": "JOIN sampling_tube t ON t.id = r.tube_id",
        "contributions": [
            (SITE, ["r.province_code", "r.campaign_id", "{site}", "'samples'"], "r.active"),
            (
                SITE,
                ["r.province_code", "r.campaign_id", "{site}", "'people_sampled'"],
                "r.active AND r.kind = 'normal'",
            ),
            (
                HOUR,
                [
                    "r.province_code",
                    "r.campaign_id",
                    "{site}",
                    "'samples'",
                    "{hour:r.collected_at}",
                ],
                "r.active",
            ),
        ],
        "changed": ["active", "kind", "tube_id", "campaign_id", "collected_at"],
        "counted_by_caller": True,
    },
    "labs_tuberesult": {
        "site": "t.site_id",
        "join": "JOIN sampling_tube t ON t.id = r.tube_id",
        "contributions": [
            (
                SITE,
                ["r.province_code", "t.campaign_id", "{site}", "'positive_pools'"],
                "r.current AND r.state = 'released' AND r.value = 'positive' AND t.kind = 'pool'",
            ),
            (
                HOUR,
                [
                    "r.province_code",
                    "t.campaign_id",
                    "{site}",
                    "'released'",
                    "{hour:r.released_at}",
                ],
                "r.released_at IS NOT NULL",
            ),
        ],
        "changed": ["current", "state", "value", "released_at", "tube_id"],
    },
    "results_outcome": {
        "site": "t.site_id",
        "join": "JOIN sampling_tube t ON t.id = r.tube_id",
        "contributions": [
            (
                SITE,
                ["r.province_code", "r.campaign_id", "{site}", "'outcome_' || r.state"],
                "r.current",
            ),
            (
                HOUR,
                ["r.province_code", "r.campaign_id", "{site}", "'recall'", "{hour:r.decided_at}"],
                "r.current AND r.state = 'recall'",
            ),
        ],
        "changed": ["current", "state", "tube_id", "campaign_id", "decided_at"],
    },
    "people_person": {
        "site": "",
        "join": "",
        "contributions": [(WARD, ["r.ward_id"], "r.merged_into_id IS NULL")],
        "changed": ["ward_id", "merged_into_id"],
    },
}

PG_HOUR = "date_trunc('hour', {col}, 'UTC')"

# Set (to 'on', local to the transaction) by the online scan's one-call function,
# `sampling_add_scanned` (sampling migration 0009), around its own sample INSERT and
# tube UPDATE, then cleared: it adds its scan to the counters itself, since its
# single-row writes would otherwise pay two statement-level aggregations per scan
# (a third of the scan's time in PostgreSQL). Only the tables marked
# `counted_by_caller` honour it here (the sample insert guard of sampling migration
# 0010 too: the function has checked that row under the tube's lock).
# tests/sampling/test_quick.py checks that such scans count what the triggers would.
ONE_CALL_SCAN = "swabline.one_call_scan"
SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00', {col})"


def _expr(text: str, site: str, hour: str) -> str:
    if text.startswith("{hour:"):
        return hour.format(col=text[len("{hour:") : -1])
    return text.replace("{site}", site)


def _short(table: str) -> str:
    return table.split("_", 1)[1]


# --- PostgreSQL ------------------------------------------------------------------


def _pg_rows(op: str, changed: list[str]) -> str:
    if op == "INSERT":
        return "SELECT n.*, 1 AS sg FROM new_rows n"
    if op == "DELETE":
        return "SELECT o.*, -1 AS sg FROM old_rows o"
    diff = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in changed)
    return (
        f"SELECT n.*, 1 AS sg FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {diff}"
        f" UNION ALL SELECT o.*, -1 AS sg FROM old_rows o JOIN new_rows n ON n.id = o.id"
        f" WHERE {diff}"
    )


def _pg_upserts(spec: dict[str, Any], rows: str) -> list[str]:
    by_target: dict[Any, list[tuple[list[str], str]]] = {}
    for target, keys, cond in spec["contributions"]:
        by_target.setdefault(target, []).append((keys, cond))
    statements = []
    for (table, key_cols, value_col), parts in by_target.items():
        selects = []
        for keys, cond in parts:
            exprs = ", ".join(_expr(k, spec["site"], PG_HOUR) for k in keys)
            selects.append(f"SELECT {exprs}, r.sg FROM ({rows}) r {spec['join']} WHERE {cond}")
        cols = ", ".join(key_cols)
        positions = ", ".join(str(i + 1) for i in range(len(key_cols)))
        statements.append(
            f"INSERT INTO {table} ({cols}, {value_col})"
            f" SELECT {cols}, sum(sg) FROM ({' UNION ALL '.join(selects)}) x({cols}, sg)"
            f" GROUP BY {positions} HAVING sum(sg) <> 0 ORDER BY {positions}"
            f" ON CONFLICT ({cols}) DO UPDATE SET {value_col} = {table}.{value_col}"
            f" + EXCLUDED.{value_col};"
        )
    return statements


# The counting statements run once per statement over its transition tables, whose
# size the planner knows but whose grouping it cannot guess: for a 1,000,000-row
# release it expected ~100,000 groups (there are 3), so with the server's 4 MB it
# sorted every row on disk instead of hashing, and the huge cost estimates switched
# JIT on, whose compilation alone took 0.4 s of a 0.6 s statement. A function-level
# SET scopes both to the triggers (the 100,000-tube release: 2.0 s → 1.0 s of
# counting; bench/lab_release_100k.py).
PG_SETTINGS = " SET jit = off SET work_mem = '64MB'"


def postgres_install() -> list[str]:
    out = []
    for table, spec in TABLES.items():
        name = f"dashboard_count_{_short(table)}"
        branches = []
        for op in ("INSERT", "UPDATE", "DELETE"):
            body = "\n        ".join(_pg_upserts(spec, _pg_rows(op, spec["changed"])))
            branches.append(f"IF TG_OP = '{op}' THEN\n        {body}\n    END IF;")
        if spec.get("counted_by_caller"):
            branches.insert(
                0,
                f"IF current_setting('{ONE_CALL_SCAN}', true) = 'on' THEN\n"
                "        RETURN NULL;\n    END IF;",
            )
        out.append(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql{PG_SETTINGS}"
            " AS $$\n"
            f"BEGIN\n    " + "\n    ".join(branches) + "\n    RETURN NULL;\nEND\n$$;"
        )
        for op, ref in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            out.append(
                f"CREATE TRIGGER {name}_{op.lower()} AFTER {op} ON {table}"
                f" REFERENCING {ref} FOR EACH STATEMENT EXECUTE FUNCTION {name}();"
            )
    return out


def postgres_uninstall() -> list[str]:
    out = []
    for table in TABLES:
        name = f"dashboard_count_{_short(table)}"
        for op in ("insert", "update", "delete"):
            out.append(f"DROP TRIGGER IF EXISTS {name}_{op} ON {table};")
        out.append(f"DROP FUNCTION IF EXISTS {name}();")
    return out


# --- SQLite -----------------------------------------------------------------------


def _sqlite_upserts(spec: dict[str, Any], row: str, sign: int) -> list[str]:
    site = spec["site"].replace(
        "t.site_id", f"(SELECT site_id FROM sampling_tube WHERE id = {row}.tube_id)"
    )
    site = site.replace("r.", f"{row}.")
    statements = []
    for (table, key_cols, value_col), keys, cond in spec["contributions"]:
        exprs = [_expr(k, site, SQLITE_HOUR) for k in keys]
        exprs = [
            e.replace(
                "t.campaign_id", f"(SELECT campaign_id FROM sampling_tube WHERE id = {row}.tube_id)"
            )
            for e in exprs
        ]
        exprs = [e.replace("r.", f"{row}.") for e in exprs]
        c = cond.replace("t.kind", f"(SELECT kind FROM sampling_tube WHERE id = {row}.tube_id)")
        c = c.replace("r.", f"{row}.")
        cols = ", ".join(key_cols)
        statements.append(
            f"INSERT INTO {table} ({cols}, {value_col}) SELECT {', '.join(exprs)}, {sign}"
            f" WHERE {c}"
            f" ON CONFLICT ({cols}) DO UPDATE SET {value_col} = {value_col} + excluded.{value_col};"
        )
    return statements


def sqlite_install() -> list[str]:
    out = []
    for table, spec in TABLES.items():
        name = f"dashboard_count_{_short(table)}"
        ins = "\n".join(_sqlite_upserts(spec, "NEW", 1))
        out.append(f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN\n{ins}\nEND;")
        when = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in spec["changed"])
        upd = "\n".join(_sqlite_upserts(spec, "OLD", -1) + _sqlite_upserts(spec, "NEW", 1))
        out.append(
            f"CREATE TRIGGER {name}_update AFTER UPDATE ON {table} WHEN {when} BEGIN\n{upd}\nEND;"
        )
    return out


def sqlite_uninstall() -> list[str]:
    out = []
    for table in TABLES:
        name = f"dashboard_count_{_short(table)}"
        out += [f"DROP TRIGGER IF EXISTS {name}_insert;", f"DROP TRIGGER IF EXISTS {name}_update;"]
    return out


STATEMENTS = {
    "postgresql": (postgres_install, postgres_uninstall),
    "sqlite": (sqlite_install, sqlite_uninstall),
}


def _run(schema_editor: Any, which: int) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise NotImplementedError(
            f"dashboard triggers are written for SQLite and PostgreSQL, not {vendor}"
        )
    for statement in STATEMENTS[vendor][which]():
        schema_editor.execute(statement, params=None)


def install(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, 0)


def uninstall(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, 1)
