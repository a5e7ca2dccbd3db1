"""What the home page offers each role: one card per permission the user holds."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from swabline.accounts.enums import Permission as P


@dataclass(frozen=True)
class Capability:
    permission: P
    title: str | Promise
    description: str | Promise
    url_name: str | None = None


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        P.VIEW_DASHBOARD,
        _("Progress"),
        _("Follow sampling and results in your places."),
        "dashboard:home",
    ),
    Capability(
        P.VIEW_SITES,
        _("Sampling sites"),
        _("See the sites and who works there."),
        "campaigns:site-list",
    ),
    Capability(
        P.VIEW_DASHBOARD,
        _("Names missing at labs"),
        _("Tubes at labs waiting for their paper list, and the paper backlog of each site."),
        "backfill:names-missing",
    ),
    Capability(P.MANAGE_CAMPAIGNS, _("Campaigns"), _("Plan screening rounds and their wards.")),
    Capability(
        P.CAPTURE_SAMPLES,
        _("Sampling station"),
        _("Scan people into tubes at your site."),
        "sampling:station",
    ),
    Capability(
        P.BACKFILL_SAMPLES,
        _("Paper tubes"),
        _("Enter tubes collected on paper; see tubes waiting at labs for their names."),
        "backfill:home",
    ),
    Capability(
        P.REGISTER_PEOPLE,
        _("Register people"),
        _("Register people who come without a QR code."),
        "people:new",
    ),
    Capability(
        P.VIEW_PEOPLE,
        _("Find people"),
        _("Search people by name, phone, CCCD or code."),
        "people:list",
    ),
    Capability(
        P.IMPORT_PEOPLE, _("Import lists"), _("Import household lists from Excel."), "people:import"
    ),
    Capability(
        P.VIEW_OUTCOMES,
        _("Recall lists"),
        _("People to call back after a positive pool, with their contact details."),
        "results:campaigns",
    ),
    Capability(
        P.VIEW_OUTCOMES,
        _("Messages to people"),
        _("Results sent by SMS, e-mail and partner apps, and what failed."),
        "notifications:overview",
    ),
    Capability(
        P.HELP_CITIZENS,
        _("Help citizens"),
        _("Unlock a result look-up and resend a result to someone who cannot find it."),
        "lookup:staff",
    ),
    Capability(
        P.HANDLE_DATA_REQUESTS,
        _("Data requests"),
        _("Record and meet people's requests to see or erase their data."),
        "people:requests",
    ),
    Capability(P.VIEW_PLACES, _("Places"), _("Wards and hamlets in your area."), "places:list"),
    Capability(
        P.MANAGE_SHIPMENTS,
        _("Shipments"),
        _("Pack closed tubes and hand them to a lab."),
        "shipping:list",
    ),
    Capability(
        P.RECEIVE_TUBES,
        _("Receive tubes"),
        _("Check shipments in at the lab."),
        "shipping:receipt_list",
    ),
    Capability(
        P.ENTER_RESULTS,
        _("Enter results"),
        _("Record results tube by tube or by upload."),
        "labs:list",
    ),
    Capability(
        P.RELEASE_RESULTS,
        _("Release results"),
        _("Review and release results to people."),
        "labs:list",
    ),
    Capability(P.MANAGE_USERS, _("Users"), _("Manage accounts and assignments.")),
)
