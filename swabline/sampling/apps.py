from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SamplingConfig(AppConfig):
    name = "swabline.sampling"
    verbose_name = _("Sampling")
