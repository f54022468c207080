"""Kiosk screens: workshop TVs enrolled once with a link, then recognised by a device cookie.

Neither the one-time enrolment token nor the device's secret is stored: only their SHA-256,
so a copy of the database enrols nothing and impersonates no screen.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: The wall's filters a screen carries, in the wall's own query-string names.
FILTER_FIELDS = ("workshop", "mdc_group", "dnc_group")
MIN_ROTATION_SECONDS = 5
MAX_ROTATION_SECONDS = 3600
DEFAULT_ROTATION_SECONDS = 20


class Screen(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    workshop = models.CharField(
        _("workshop"), max_length=200, blank=True, help_text=_("Blank: every workshop.")
    )
    mdc_group = models.CharField(
        _("MDC group"), max_length=200, blank=True, help_text=_("Blank: every MDC group.")
    )
    dnc_group = models.CharField(
        _("DNC group"), max_length=200, blank=True, help_text=_("Blank: every DNC group.")
    )
    rotation_seconds = models.PositiveIntegerField(
        _("seconds per page"),
        default=DEFAULT_ROTATION_SECONDS,
        validators=[
            MinValueValidator(MIN_ROTATION_SECONDS),
            MaxValueValidator(MAX_ROTATION_SECONDS),
        ],
        help_text=_("How long each page shows when the stations do not fit on one."),
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Blank: the dashboard's default language."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    #: SHA-256 (hex) of the one-time enrolment token; blank once used or revoked.
    enrolment_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    enrolment_expires_at = models.DateTimeField(_("enrolment link expires at"), null=True)
    #: SHA-256 (hex) of the secret in the enrolled device's cookie; blank until enrolled.
    device_secret_hash = models.CharField(max_length=64, blank=True, db_index=True)
    enrolled_at = models.DateTimeField(_("enrolled at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    #: Open sockets of this screen (any number of tabs or devices on the same cookie).
    connected_sockets = models.PositiveIntegerField(_("open connections"), default=0)

    class Meta:
        ordering = ["name"]
        verbose_name = _("screen")
        verbose_name_plural = _("screens")
        constraints = [
            models.CheckConstraint(
                condition=Q(rotation_seconds__gte=MIN_ROTATION_SECONDS),
                name="screen_rotation_minimum",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def filters(self) -> dict[str, str]:
        """The wall's filters for this screen; a blank value means all."""
        return {name: getattr(self, name) for name in FILTER_FIELDS}

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_enrolled(self) -> bool:
        return bool(self.device_secret_hash) and self.revoked_at is None

    @property
    def is_online(self) -> bool:
        return self.connected_sockets > 0 and self.revoked_at is None

    @property
    def has_pending_link(self) -> bool:
        return bool(self.enrolment_token_hash) and (
            self.enrolment_expires_at is None or self.enrolment_expires_at > timezone.now()
        )
