"""Signing keys and issued certificates.

A `SigningKey` is an EC P-256 key with a self-signed Document Signer Certificate
(DSC); its private half is stored encrypted (`keys.py`, decision 0007). A
`Certificate` is the signed HCERT of one decided outcome, issued once: a second
download gives the same text, hence the same UVCI.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from swabline.certificates.enums import KeyStatus
from swabline.core.models import CarriesProvince
from swabline.core.scope import Scope


class SigningKey(models.Model):
    kid = models.CharField(_("key id"), max_length=16, unique=True)  # 8 bytes, hex
    certificate = models.BinaryField(_("certificate (DER)"))
    private_key = models.BinaryField(editable=False)  # PKCS#8, encrypted (keys.py)
    status = models.CharField(
        _("status"), max_length=10, choices=KeyStatus.choices, default=KeyStatus.PUBLISHED
    )
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    class Meta:
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status=KeyStatus.ACTIVE),
                name="signingkey_one_active",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=KeyStatus.values), name="signingkey_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.status})"


class Certificate(CarriesProvince):
    province_source = "outcome"
    # Found through its outcome, never filtered by province: no index of its own (under
    # Citus it is the distribution column, which needs none).
    province_code = models.CharField(max_length=4, editable=False)

    outcome = models.OneToOneField(
        "results.Outcome", on_delete=models.PROTECT, related_name="certificate"
    )
    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="certificates")
    uvci = models.CharField(_("certificate id (UVCI)"), max_length=80, unique=True)
    kid = models.CharField(_("key id"), max_length=16)
    hcert = models.TextField(editable=False)  # the HC1: text, exactly as issued
    issued_at = models.DateTimeField(_("issued at"))
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return self.uvci

    def scope(self) -> Scope:
        return self.outcome.scope()
