"""The look-up's failure counters.

One row per counted thing: an identity (a personal code, CCCD or phone, per short
window and per day) or a client address. The key is an HMAC of what it counts,
never the identifier itself, so the table holds no personal data. Rows are
written only by one `INSERT … ON CONFLICT DO UPDATE … RETURNING` statement
(`services.attempt`), which is what makes the count exact under parallel guesses.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LookupCounter(models.Model):
    """Failed look-ups of one key in the window that ends at `expires_at`."""

    key = models.CharField(max_length=48, primary_key=True)
    tries = models.PositiveIntegerField(_("failed tries"), default=0)
    expires_at = models.DateTimeField(_("window ends at"))

    class Meta:
        verbose_name = _("look-up counter")
        verbose_name_plural = _("look-up counters")

    def __str__(self) -> str:
        return f"{self.key[:8]}…: {self.tries}"
