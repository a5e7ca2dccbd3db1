from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.core.scope import Scope
from swabline.places.enums import Level, System


class Place(models.Model):
    """One administrative unit: province, (legacy) district, ward or hamlet.

    `path` is the chain of ids from the province down ("/12/3456/"), so a
    subtree is one indexed `path__startswith` and scope checks need no joins.
    `province_code` is carried on every place (and on every hot table later)
    so that a nation-scale deployment can shard by province.
    """

    system = models.CharField(_("map"), max_length=10, choices=System.choices)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=150)
    short_name = models.CharField(_("short name"), max_length=150)
    kind = models.CharField(_("kind"), max_length=40, help_text=_("e.g. Phường, Xã, Tỉnh"))
    name_folded = models.CharField(max_length=150, db_index=True, editable=False)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    path = models.CharField(max_length=100, db_index=True, editable=False)
    province_code = models.CharField(_("province code"), max_length=4, db_index=True)

    class Meta:
        verbose_name = _("place")
        verbose_name_plural = _("places")
        ordering = ["system", "path"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "level", "code"], name="place_unique_code_per_level"
            ),
            models.CheckConstraint(
                condition=models.Q(parent__isnull=True, level="province")
                | models.Q(parent__isnull=False) & ~models.Q(level="province"),
                name="place_only_provinces_are_roots",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_current(self) -> bool:
        return self.system == System.CURRENT

    def contains(self, other: Place) -> bool:
        return other.path.startswith(self.path)

    def scope(self) -> Scope:
        return Scope(place_path=self.path)


class PlaceSuccession(models.Model):
    """A legacy ward and the current ward(s) it became on 1 July 2025.

    A legacy ward that was split has several rows; `is_default` marks the one an
    old address maps to when nothing else tells them apart.
    """

    legacy = models.ForeignKey(Place, on_delete=models.CASCADE, related_name="successions")
    current = models.ForeignKey(Place, on_delete=models.CASCADE, related_name="predecessions")
    is_default = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["legacy", "current"], name="succession_unique_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.legacy} → {self.current}"


class DataSource(models.Model):
    """Which dataset the places were loaded from, so provenance is queryable."""

    name = models.CharField(max_length=100, unique=True)
    version = models.CharField(max_length=40)
    licence = models.CharField(max_length=40)
    url = models.URLField()
    loaded_at = models.DateTimeField()
    current_units = models.PositiveIntegerField()
    legacy_units = models.PositiveIntegerField()
    successions = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.name} {self.version}"
