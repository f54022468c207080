from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = _("Dashboard")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts.models import Profile
        from dashboard import checks  # noqa: F401 - registers the system checks
        from dashboard.languages import forget_languages_in_use
        from screens.models import Screen

        for model in (Profile, Screen):
            for signal in (post_save, post_delete):
                signal.connect(
                    forget_languages_in_use,
                    sender=model,
                    dispatch_uid=f"languages.{model.__name__}",
                )
