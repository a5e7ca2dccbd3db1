from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LookupConfig(AppConfig):
    name = "swabline.lookup"
    verbose_name = _("Result look-up")
