from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    OFFICIAL = "official", _("Official")
    SAMPLER = "sampler", _("Sampler")
    DATA_ENTRY = "data_entry", _("Data entry")
    COURIER = "courier", _("Courier")
    LAB_TECHNICIAN = "lab_technician", _("Lab technician")
    LAB_SUPERVISOR = "lab_supervisor", _("Lab supervisor")
    PARTNER = "partner", _("Partner app")


class Permission(StrEnum):
    """What a user may do. Roles grant sets of these; views ask for one."""

    MANAGE_USERS = "manage_users"
    MANAGE_REFERENCE_DATA = "manage_reference_data"
    VIEW_DASHBOARD = "view_dashboard"
    EXPORT_DATA = "export_data"
    MANAGE_CAMPAIGNS = "manage_campaigns"
    MANAGE_SITES = "manage_sites"
    VIEW_SITES = "view_sites"
    VIEW_PLACES = "view_places"
    CAPTURE_SAMPLES = "capture_samples"
    # Enter tubes collected on paper (late entry) and declare the paper backlog.
    BACKFILL_SAMPLES = "backfill_samples"
    REGISTER_PEOPLE = "register_people"
    VIEW_PEOPLE = "view_people"
    IMPORT_PEOPLE = "import_people"
    MERGE_PEOPLE = "merge_people"
    MANAGE_SHIPMENTS = "manage_shipments"
    RECEIVE_TUBES = "receive_tubes"
    ENTER_RESULTS = "enter_results"
    RELEASE_RESULTS = "release_results"
    VIEW_OUTCOMES = "view_outcomes"
    READ_CONSENTED_RESULTS = "read_consented_results"
    # Help a citizen who cannot look their result up: unlock the look-up, resend.
    HELP_CITIZENS = "help_citizens"
    # Record and carry out people's requests to see (access) or erase their data.
    HANDLE_DATA_REQUESTS = "handle_data_requests"


class ScopeKind(models.TextChoices):
    EVERYWHERE = "everywhere", _("Everywhere")
    PLACE = "place", _("Place and everything under it")
    SITE = "site", _("Site")
    LAB = "lab", _("Lab")


class ApiScope(models.TextChoices):
    """What an API token may be used for. Each API router names the scopes that
    open it (swabline/api.py); the user's permissions still decide what and where.
    READ_ONLY narrows instead of opening: such a token may only read (GET)."""

    STATION = "station", _("Station devices: sampling, shipping, backfill, people")
    LAB = "lab", _("Lab systems: worklists, results, receiving tubes")
    PARTNER = "partner", _("Partner apps: FHIR, consented results, registrations")
    REPORTS = "reports", _("Dashboards and reports")
    READ_ONLY = "read_only", _("Read only")
