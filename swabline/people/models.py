from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope
from swabline.people.codes import format_person_code, new_person_code, new_qr_token
from swabline.people.enums import DeclarationSource, Sex


def new_public_id() -> str:
    """An opaque 128-bit token, URL-safe: the person's identifier outside the server."""
    return secrets.token_urlsafe(16)


def new_household_key() -> str:
    return "h-" + secrets.token_urlsafe(12)


class Person(CarriesProvince):
    """Someone who may be sampled. Names are stored NFC; `name_folded` is the
    diacritic-free search key kept beside it.

    `identity_key` is the duplicate rule made unique in the database: folded name,
    birth date (or year) and phone; without a phone, the ward and household stand
    in for it. A merged-away record keeps its data but drops its keys.
    """

    province_source = "ward"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    qr_token = models.CharField(max_length=26, unique=True, default=new_qr_token, editable=False)
    code = models.CharField(
        _("code"), max_length=8, unique=True, default=new_person_code, editable=False
    )
    full_name = models.CharField(_("full name"), max_length=150)
    name_folded = models.CharField(max_length=150, db_index=True, editable=False)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("year of birth"))
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    phone = models.CharField(_("phone"), max_length=16, blank=True, db_index=True)
    national_id = models.CharField(_("CCCD"), max_length=12, null=True, blank=True, unique=True)
    ward = models.ForeignKey(
        "places.Place", on_delete=models.PROTECT, related_name="people", verbose_name=_("ward")
    )
    address = models.CharField(_("address"), max_length=300, blank=True)
    household_key = models.CharField(_("household"), max_length=40, blank=True, db_index=True)
    is_household_head = models.BooleanField(_("head of household"), default=False)
    identity_key = models.CharField(
        max_length=220, null=True, blank=True, unique=True, editable=False
    )
    source = models.CharField(
        _("registered through"),
        max_length=10,
        choices=DeclarationSource.choices,
        default=DeclarationSource.SELF,
    )
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_people",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["name_folded", "id"]
        indexes = [
            models.Index(fields=["ward", "name_folded"], name="person_ward_name"),
            models.Index(fields=["province_code", "phone"], name="person_province_phone"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(birth_year__gte=1890, birth_year__lte=2100),
                name="person_birth_year_plausible",
            ),
            models.CheckConstraint(
                condition=models.Q(merged_into__isnull=True)
                | models.Q(identity_key__isnull=True, national_id__isnull=True),
                name="person_merged_has_no_keys",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def display_code(self) -> str:
        return format_person_code(self.code)

    def scope(self) -> Scope:
        return Scope(place_path=self.ward.path)


class Declaration(CarriesProvince):
    """A health declaration made by or for a person at a point in time."""

    province_source = "person"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="declarations")
    declared_at = models.DateTimeField(_("declared at"), auto_now_add=True, db_index=True)
    source = models.CharField(_("source"), max_length=10, choices=DeclarationSource.choices)
    symptoms = models.JSONField(_("symptoms"), default=list, blank=True)
    contact_with_case = models.BooleanField(_("contact with a case"), default=False)
    recent_travel = models.BooleanField(_("recent travel"), default=False)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("declaration")
        verbose_name_plural = _("declarations")
        ordering = ["-declared_at"]

    def __str__(self) -> str:
        return f"{self.person} @ {self.declared_at:%Y-%m-%d %H:%M}"


class PersonMerge(models.Model):
    """A duplicate folded into the record that survives, with what it held then."""

    survivor = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="merges_in")
    merged = models.OneToOneField(Person, on_delete=models.PROTECT, related_name="merge_out")
    merged_at = models.DateTimeField(auto_now_add=True)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    snapshot = models.JSONField(default=dict)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"
