from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "swabline.notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from swabline.notifications.services import queue_for_release
        from swabline.results import hooks

        hooks.on_outcomes_written(queue_for_release)
