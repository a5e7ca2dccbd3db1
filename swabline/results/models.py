"""Released batches and per-person outcomes.

An `Outcome` row is a *decided* outcome of one person in one campaign (negative,
positive, recall, recollect), written set-based when a supervisor releases tubes,
when the lab rejects a tube, or when a released result is corrected. At most one
row per person and campaign is current (partial unique index); a newer decision
supersedes the old row, which stays as history. "Awaiting result" and "not
sampled" are derived from samples (`queries.current_outcome`), so the station's
hot path writes no outcome rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope
from swabline.results.enums import STORED_STATES, OutcomeState, ReleaseKind

# States someone must act on; indexed by campaign (see Outcome.Meta).
ACTIONABLE_STATES = [OutcomeState.POSITIVE, OutcomeState.RECALL, OutcomeState.RECOLLECT]


class Release(models.Model):
    """One supervisor action that released (or corrected) results of a lab."""

    lab = models.ForeignKey("labs.Lab", on_delete=models.PROTECT, related_name="releases")
    kind = models.CharField(
        _("kind"), max_length=12, choices=ReleaseKind.choices, default=ReleaseKind.RELEASE
    )
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(_("released at"), default=timezone.now)
    tubes = models.PositiveIntegerField(_("tubes"), default=0)
    people = models.PositiveIntegerField(_("people"), default=0)
    note = models.CharField(_("note"), max_length=500, blank=True)
    # Idempotency for a double-submitted release form or a retried API call.
    client_id = models.UUIDField(unique=True, null=True, blank=True)
    # The highest outcome id before this release wrote its outcomes (`logic.decide`):
    # its rows are `id > outcomes_after_id AND release_id = id`, a range of the
    # primary key, so outcomes need no index by release (a million entries a
    # release, read once, by the notifications outbox in the same transaction).
    outcomes_after_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("release")
        verbose_name_plural = _("releases")
        ordering = ["-released_at", "-id"]

    def __str__(self) -> str:
        return f"{self.lab} {self.released_at:%Y-%m-%d %H:%M}"

    def scope(self) -> Scope:
        return Scope(place_path=self.lab.place.path, lab_id=self.lab_id)


class Outcome(CarriesProvince):
    """A decided outcome of one person in one campaign.

    Appended a million at a time by one INSERT…SELECT (`logic.decide`), whose joins
    take every reference from an existing row; so, like the station's event log,
    its references carry no database constraints: PostgreSQL checks Django's
    (deferred) foreign keys one row at a time at commit, which made a 1,000,000-
    person release spend most of its time checking six keys per row. Django still
    PROTECTs the rows they point to.

    For the same reason it carries only the indexes its readers use: the current
    outcome of a person (the partial unique index), a campaign's current outcomes
    someone acts on, by state (recall and positive lists, their counts), and a
    release's rows (who to notify). Each
    more index cost a 1,000,000-person release seconds (bench/lab_release_100k.py).
    """

    province_source = "person"
    # Carried for sharding like every hot table, but never searched alone (a
    # campaign is in one province): no index of its own.
    province_code = models.CharField(max_length=4, editable=False)

    person = models.ForeignKey(
        "people.Person",
        on_delete=models.PROTECT,
        related_name="outcomes",
        db_constraint=False,
        db_index=False,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    state = models.CharField(_("outcome"), max_length=12, choices=OutcomeState.choices)
    # What decided it: the tube (and its result, unless the tube was rejected).
    tube = models.ForeignKey(
        "sampling.Tube",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    sample = models.ForeignKey(
        "sampling.Sample",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    result = models.ForeignKey(
        "labs.TubeResult",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    release = models.ForeignKey(
        Release,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="outcomes",
        db_index=False,  # found by id range: Release.outcomes_after_id
        db_constraint=False,
    )
    current = models.BooleanField(default=True)
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outcome")
        verbose_name_plural = _("outcomes")
        ordering = ["-decided_at", "-id"]
        indexes = [
            # The lists and counts read by state are of the states someone acts on
            # (recall, recollect, positive); negatives, ~98 % of a release, would
            # cost each 1,000,000-person release ≈ 0.6 s here and no reader.
            models.Index(
                fields=["campaign", "state"],
                condition=models.Q(current=True, state__in=ACTIONABLE_STATES),
                name="outcome_current_actionable",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "campaign"],
                condition=models.Q(current=True),
                name="outcome_one_current_per_person",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in STORED_STATES]),
                name="outcome_state_stored",
            ),
            models.CheckConstraint(
                condition=models.Q(current=True, superseded_at__isnull=True)
                | models.Q(current=False, superseded_at__isnull=False),
                name="outcome_superseded_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id}/{self.campaign_id}: {self.state}"

    def scope(self) -> Scope:
        return Scope(place_path=self.person.ward.path)
