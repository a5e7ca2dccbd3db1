"""What each event fate and reason says to the sampler, in the active language.

A result keeps its reason code and the message's parameters (plain values, stored
with the event), and the text is made when the answer is written, so a replayed
event is answered in the language of the request that replays it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from swabline.sampling.enums import EventType, Fate, TubeStatus

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as StrOrPromise


class Reason:
    """Reason codes sent to stations (stable: the station app branches on them)."""

    # applied, with a notice
    TUBE_FULL_CLOSED = "tube_full_closed"
    OVERRIDE = "override"
    RECALL_SAMPLE = "recall_sample"
    RECOLLECT_SAMPLE = "recollect_sample"
    LABEL_OTHER_SITE = "label_other_site"
    # duplicate: nothing to do
    REPLAYED = "replayed"
    ALREADY_IN_TUBE = "already_in_tube"
    ALREADY_CLOSED = "already_closed"
    ALREADY_VOID = "already_void"
    NOT_IN_TUBE = "not_in_tube"
    # conflict
    INVALID = "invalid"
    CLOCK = "clock"
    CAMPAIGN_CLOSED = "campaign_closed"
    LABEL_CHECK = "label_check"
    LABEL_UNKNOWN = "label_unknown"
    LABEL_OTHER_CAMPAIGN = "label_other_campaign"
    LABEL_USED = "label_used"
    POOL_NOT_ALLOWED = "pool_not_allowed"
    TUBE_UNKNOWN = "tube_unknown"
    OTHER_SITE = "other_site"
    TUBE_CLOSED = "tube_closed"
    TUBE_FULL = "tube_full"
    TUBE_EMPTY = "tube_empty"
    NOT_LAST = "not_last"
    ALREADY_SAMPLED = "already_sampled"
    NEEDS_OVERRIDE = "needs_override"
    RECALL_NEEDS_INDIVIDUAL = "recall_needs_individual"
    RECALL_LISTED = "recall_listed"
    SCAN_INVALID = "scan_invalid"
    SCAN_KEYBOARD = "scan_keyboard"
    SCAN_IS_TUBE = "scan_is_tube"
    PERSON_UNKNOWN = "person_unknown"
    RETRY = "retry"


_APPLIED: dict[str, StrOrPromise] = {
    EventType.OPEN_TUBE: _("Tube %(tube)s opened: 0/%(limit)s."),
    EventType.ADD_PERSON: _("%(person)s, %(birth_year)s — %(count)s/%(limit)s."),
    EventType.REMOVE_LAST: _("%(person)s removed from tube %(tube)s: %(count)s/%(limit)s."),
    EventType.CLOSE_TUBE: _("Tube %(tube)s closed with %(count)s people."),
    EventType.VOID_TUBE: _("Tube %(tube)s cancelled: its %(removed)s people are not sampled."),
}

_NOTICES: dict[str, StrOrPromise] = {
    Reason.TUBE_FULL_CLOSED: _(
        "%(person)s, %(birth_year)s — %(count)s/%(limit)s. The tube is full and now closed."
    ),
    Reason.OVERRIDE: _(
        "%(person)s, %(birth_year)s — %(count)s/%(limit)s, sampled again (also in tube "
        "%(other_tube)s at %(other_site)s)."
    ),
    Reason.RECALL_SAMPLE: _(
        "%(person)s, %(birth_year)s — RECALL: individual sample after a positive pool."
    ),
    Reason.RECOLLECT_SAMPLE: _(
        "%(person)s, %(birth_year)s — %(count)s/%(limit)s, sampled again (recollection)."
    ),
    Reason.LABEL_OTHER_SITE: _(
        "Tube %(tube)s opened: 0/%(limit)s. This label was issued to another site."
    ),
    Reason.REPLAYED: _("Already received."),
    Reason.ALREADY_IN_TUBE: _("%(person)s is already in this tube (number %(position)s)."),
    Reason.ALREADY_CLOSED: _("Tube %(tube)s is already closed."),
    Reason.ALREADY_VOID: _("Tube %(tube)s is already cancelled."),
    Reason.NOT_IN_TUBE: _("%(person)s is not in tube %(tube)s: nothing to remove."),
    Reason.INVALID: _("This event is incomplete or has an unknown value (%(field)s)."),
    Reason.CLOCK: _(
        "This device's clock looks wrong (%(at)s). Set the date and time, then scan again."
    ),
    Reason.CAMPAIGN_CLOSED: _("This campaign is closed."),
    Reason.LABEL_CHECK: _(
        "The tube label %(tube)s was misread (its check digit is wrong). Scan it again."
    ),
    Reason.LABEL_UNKNOWN: _("The tube label %(tube)s was not issued for this campaign."),
    Reason.LABEL_OTHER_CAMPAIGN: _("The tube label %(tube)s belongs to another campaign."),
    Reason.LABEL_USED: _("The tube label %(tube)s is already used (at %(site)s)."),
    Reason.POOL_NOT_ALLOWED: _("This campaign tests people one by one: open an individual tube."),
    Reason.TUBE_UNKNOWN: _("Tube %(tube)s has not been opened."),
    Reason.OTHER_SITE: _("Tube %(tube)s belongs to another site (%(site)s)."),
    Reason.TUBE_CLOSED: _("Tube %(tube)s is %(status)s: its people cannot change."),
    Reason.TUBE_FULL: _("Tube %(tube)s is full (%(limit)s people)."),
    Reason.TUBE_EMPTY: _("Tube %(tube)s is empty."),
    Reason.NOT_LAST: _("%(person)s is not the last person in tube %(tube)s."),
    Reason.ALREADY_SAMPLED: _(
        "%(person)s was already sampled in this campaign (tube %(other_tube)s at %(other_site)s)."
    ),
    Reason.NEEDS_OVERRIDE: _("A recall or recollection sample must be confirmed (override)."),
    Reason.RECALL_NEEDS_INDIVIDUAL: _("A recall sample goes into an individual tube."),
    Reason.RECALL_LISTED: _(
        "%(person)s is on the recall list (their pool was positive): open an individual "
        "tube and scan them into it."
    ),
    Reason.SCAN_IS_TUBE: _("This is a tube label, not a person's code."),
    Reason.PERSON_UNKNOWN: _("No one is registered with this code. Check it, or register them."),
    Reason.RETRY: _("The server was busy with the same tube or person. This will be sent again."),
}

_SCAN_ERRORS = frozenset({Reason.SCAN_INVALID, Reason.SCAN_KEYBOARD})


def render(event_type: str, fate: str, reason: str, params: Mapping[str, object]) -> str:
    """The message for a result, in the active language."""
    if reason in _SCAN_ERRORS:
        # The scan parser's own message, kept as it was said when first applied.
        return str(params.get("detail", ""))
    template = _NOTICES.get(reason) if reason else None
    if template is None:
        template = _APPLIED.get(event_type, "") if fate == Fate.APPLIED else ""
    if not template:
        return ""
    values = dict(params)
    if "status" in values:
        values["status"] = _status_label(str(values["status"]))
    try:
        return str(template) % values
    except (KeyError, TypeError, ValueError):
        return reason  # a parameter missing from an event stored by an older version


_STATUS_WORDS: dict[str, StrOrPromise] = {
    TubeStatus.OPEN: pgettext_lazy("the tube is …", "open"),
    TubeStatus.CLOSED: pgettext_lazy("the tube is …", "closed"),
    TubeStatus.SHIPPED: pgettext_lazy("the tube is …", "shipped"),
    TubeStatus.RECEIVED: pgettext_lazy("the tube is …", "at the lab"),
    TubeStatus.RESULTED: pgettext_lazy("the tube is …", "tested"),
    TubeStatus.RELEASED: pgettext_lazy("the tube is …", "released"),
    TubeStatus.VOID: pgettext_lazy("the tube is …", "cancelled"),
    TubeStatus.REJECTED: pgettext_lazy("the tube is …", "rejected by the lab"),
}


def _status_label(status: str) -> str:
    return str(_STATUS_WORDS.get(status, status))


# The same, rendered only when read (for exceptions raised now and shown later).
render_lazy = lazy(render, str)
