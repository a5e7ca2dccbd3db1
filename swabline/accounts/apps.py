from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "swabline.accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # Connects the login signal that starts a session's idle clock.
        from swabline.accounts import middleware  # noqa: F401
