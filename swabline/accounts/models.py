from __future__ import annotations

import hashlib
import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from swabline.accounts.enums import Role, ScopeKind


class User(AbstractUser):
    """A staff member or a partner app's service account. Citizens have none."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    phone = models.CharField(_("phone"), max_length=16, blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def get_full_name(self) -> str:
        """Vietnamese order: family name first ("Nguyễn Thị" + "Mai")."""
        return f"{self.last_name} {self.first_name}".strip()


class Assignment(models.Model):
    """One role held by one user over one scope: everywhere, a place subtree, a site or a lab."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="assignments")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    scope_kind = models.CharField(_("scope"), max_length=12, choices=ScopeKind.choices)
    place = models.ForeignKey(
        "places.Place", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    site = models.ForeignKey(
        "campaigns.Site", on_delete=models.CASCADE, null=True, blank=True, related_name="staff"
    )
    lab = models.ForeignKey(
        "labs.Lab", on_delete=models.CASCADE, null=True, blank=True, related_name="staff"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            models.CheckConstraint(
                name="assignment_scope_matches_kind",
                condition=(
                    models.Q(
                        scope_kind=ScopeKind.EVERYWHERE,
                        place__isnull=True,
                        site__isnull=True,
                        lab__isnull=True,
                    )
                    | models.Q(
                        scope_kind=ScopeKind.PLACE,
                        place__isnull=False,
                        site__isnull=True,
                        lab__isnull=True,
                    )
                    | models.Q(
                        scope_kind=ScopeKind.SITE,
                        place__isnull=True,
                        site__isnull=False,
                        lab__isnull=True,
                    )
                    | models.Q(
                        scope_kind=ScopeKind.LAB,
                        place__isnull=True,
                        site__isnull=True,
                        lab__isnull=False,
                    )
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "scope_kind", "place", "site", "lab"],
                name="assignment_unique",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        target = self.place or self.site or self.lab or _("everywhere")
        return f"{self.get_role_display()} @ {target}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for a station device, a lab system or a partner app.

    Only the SHA-256 of the token is stored; the token itself is shown once.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    # ApiScope values; a router refuses a token without one of the scopes it names.
    scopes = models.JSONField(_("scopes"), default=list, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
