"""Which permissions each role grants, and which scope a role's assignment takes."""

from __future__ import annotations

from swabline.accounts.enums import ApiScope, Role, ScopeKind
from swabline.accounts.enums import Permission as P

ROLE_PERMISSIONS: dict[str, frozenset[P]] = {
    Role.ADMIN: frozenset(P),
    Role.OFFICIAL: frozenset(
        {
            P.VIEW_DASHBOARD,
            P.EXPORT_DATA,
            P.MANAGE_CAMPAIGNS,
            P.MANAGE_SITES,
            P.VIEW_SITES,
            P.VIEW_PLACES,
            P.VIEW_PEOPLE,
            P.MERGE_PEOPLE,
            P.MANAGE_USERS,
            P.VIEW_OUTCOMES,
            P.HELP_CITIZENS,
            P.HANDLE_DATA_REQUESTS,
        }
    ),
    Role.SAMPLER: frozenset(
        {
            P.CAPTURE_SAMPLES,
            P.BACKFILL_SAMPLES,
            P.REGISTER_PEOPLE,
            P.VIEW_PEOPLE,
            P.VIEW_SITES,
            P.MANAGE_SHIPMENTS,
        }
    ),
    Role.DATA_ENTRY: frozenset(
        {
            P.REGISTER_PEOPLE,
            P.BACKFILL_SAMPLES,
            P.VIEW_PEOPLE,
            P.IMPORT_PEOPLE,
            P.MERGE_PEOPLE,
            P.EXPORT_DATA,
            P.VIEW_PLACES,
            P.HELP_CITIZENS,
        }
    ),
    Role.COURIER: frozenset({P.MANAGE_SHIPMENTS, P.VIEW_SITES}),
    Role.LAB_TECHNICIAN: frozenset({P.RECEIVE_TUBES, P.ENTER_RESULTS}),
    Role.LAB_SUPERVISOR: frozenset({P.RECEIVE_TUBES, P.ENTER_RESULTS, P.RELEASE_RESULTS}),
    Role.PARTNER: frozenset({P.REGISTER_PEOPLE, P.READ_CONSENTED_RESULTS}),
}

# The scope kinds an assignment of each role may take.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset({ScopeKind.EVERYWHERE}),
    Role.OFFICIAL: frozenset({ScopeKind.PLACE}),
    Role.SAMPLER: frozenset({ScopeKind.SITE}),
    Role.DATA_ENTRY: frozenset({ScopeKind.PLACE}),
    Role.COURIER: frozenset({ScopeKind.SITE}),
    Role.LAB_TECHNICIAN: frozenset({ScopeKind.LAB}),
    Role.LAB_SUPERVISOR: frozenset({ScopeKind.LAB}),
    Role.PARTNER: frozenset({ScopeKind.EVERYWHERE, ScopeKind.PLACE}),
}

# The API scopes a token of a user holding each role may carry (and gets by default).
# READ_ONLY narrows a token and anyone may ask for it.
ROLE_API_SCOPES: dict[str, frozenset[ApiScope]] = {
    Role.ADMIN: frozenset(ApiScope),
    Role.OFFICIAL: frozenset({ApiScope.REPORTS}),
    Role.SAMPLER: frozenset({ApiScope.STATION}),
    Role.DATA_ENTRY: frozenset({ApiScope.STATION, ApiScope.REPORTS}),
    Role.COURIER: frozenset({ApiScope.STATION}),
    Role.LAB_TECHNICIAN: frozenset({ApiScope.LAB}),
    Role.LAB_SUPERVISOR: frozenset({ApiScope.LAB}),
    Role.PARTNER: frozenset({ApiScope.PARTNER}),
}
