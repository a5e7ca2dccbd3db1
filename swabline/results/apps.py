from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResultsConfig(AppConfig):
    name = "swabline.results"
    verbose_name = _("Results and outcomes")

    def ready(self) -> None:
        from swabline.results.queries import recall_pending, recollect_pending
        from swabline.sampling import hooks

        hooks.register(recall=recall_pending, recollect=recollect_pending)
