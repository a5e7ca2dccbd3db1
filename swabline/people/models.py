from __future__ import annotations

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope
from swabline.people.enums import Sex


def new_public_id() -> str:
    """An opaque 128-bit token, URL-safe: the person's identifier outside the server."""
    return secrets.token_urlsafe(16)


class Person(CarriesProvince):
    """Someone who may be sampled. Names are stored NFC; `name_folded` is the
    diacritic-free search key kept beside it."""

    province_source = "ward"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
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
    household_key = models.CharField(_("household"), max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["name_folded", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(birth_year__gte=1890, birth_year__lte=2100),
                name="person_birth_year_plausible",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    def scope(self) -> Scope:
        return Scope(place_path=self.ward.path)
