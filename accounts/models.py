"""Who may act on which stations: roles are Django groups; a profile narrows the stations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Profile(models.Model):
    """What CWork's ``StationAllow`` does for a CWork user: a user limited to some workshops
    or stations sees and acts on those only. No limit means every station."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    workshops = models.JSONField(_("workshops"), default=list, blank=True)
    stations = models.ManyToManyField("stations.Station", verbose_name=_("stations"), blank=True)
    #: The user's own CWork API key, so CWork applies their scenario and records who acted.
    cwork_api_key = models.CharField(_("CWork API key"), max_length=200, blank=True)
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Blank: the dashboard's default language."),
    )

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
        permissions = [
            ("change_station_state", _("Can change a station's state")),
            ("replace_station_state", _("Can replace a station's current state")),
            ("force_auto_state", _("Can force a station's automatic state")),
            ("reset_part_count", _("Can reset a station's part count")),
            ("view_reviews", _("Can see shift reviews and exports")),
            ("view_audit", _("Can see the audit trail")),
            ("manage_alerts", _("Can edit alert rules, webhooks and report subscriptions")),
        ]

    def __str__(self) -> str:
        return str(self.user)

    @property
    def limited(self) -> bool:
        """Limited to some workshops or stations (a profile not saved yet names no station)."""
        return bool(self.workshops) or (self.pk is not None and self.stations.exists())
