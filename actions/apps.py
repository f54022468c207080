from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActionsConfig(AppConfig):
    """An app for its template tags (the station page's action panel); it has no models."""

    name = "actions"
    verbose_name = _("Actions")
