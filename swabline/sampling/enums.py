"""Statuses, kinds and the tube state machine (DESIGN §4)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class TubeStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")
    SHIPPED = "shipped", _("Shipped")
    RECEIVED = "received", _("Received at the lab")
    RESULTED = "resulted", _("Resulted")
    RELEASED = "released", _("Released")
    VOID = "void", _("Cancelled")
    REJECTED = "rejected", _("Rejected by the lab")


class TubeKind(models.TextChoices):
    POOL = "pool", _("Pool")
    INDIVIDUAL = "individual", _("Individual")


class SampleKind(models.TextChoices):
    NORMAL = "normal", _("Normal")
    RECALL = "recall", _("Recall (after a positive pool)")
    RECOLLECT = "recollect", _("Recollection")


class LabelBatchKind(models.TextChoices):
    GENERATED = "generated", _("Generated and printed here")
    SUPPLIER = "supplier", _("Pre-printed by a supplier")


class EventType(models.TextChoices):
    OPEN_TUBE = "open_tube", _("Open a tube")
    ADD_PERSON = "add_person", _("Add a person")
    REMOVE_LAST = "remove_last", _("Remove the last person")
    CLOSE_TUBE = "close_tube", _("Close a tube")
    VOID_TUBE = "void_tube", _("Cancel a tube")
    REGISTER_PERSON = "register_person", _("Quick registration")


class Fate(models.TextChoices):
    APPLIED = "applied", _("Applied")
    DUPLICATE = "duplicate", _("Already done")
    CONFLICT = "conflict", _("Conflict")


S = TubeStatus
# The tube's lifecycle. A closed tube's members never change: only an open tube
# takes or loses members, and nothing leads back to open. The database holds the
# same table in a trigger (migration 0002), so raw SQL cannot skip a step either.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.CLOSED, S.VOID}),
    S.CLOSED: frozenset({S.SHIPPED}),
    S.SHIPPED: frozenset({S.RECEIVED, S.REJECTED}),
    S.RECEIVED: frozenset({S.RESULTED, S.REJECTED}),
    S.RESULTED: frozenset({S.RELEASED}),
    S.RELEASED: frozenset(),
    S.VOID: frozenset(),
    S.REJECTED: frozenset(),
}
