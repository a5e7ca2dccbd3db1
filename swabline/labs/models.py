from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope


class Lab(CarriesProvince):
    """A testing laboratory; lab staff are scoped to one."""

    province_source = "place"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    place = models.ForeignKey(
        "places.Place", on_delete=models.PROTECT, related_name="labs", verbose_name=_("place")
    )
    address = models.CharField(_("address"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("lab")
        verbose_name_plural = _("labs")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def scope(self) -> Scope:
        return Scope(place_path=self.place.path, lab_id=self.pk)
