from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackfillConfig(AppConfig):
    name = "swabline.backfill"
    verbose_name = _("Paper backfill")
