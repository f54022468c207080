"""The audit trail: every action someone asked the dashboard to send to CWork.

One row per attempt, whatever became of it (sent and accepted, refused by CWork, refused here,
or unknown). Rows are written by ``actions.services`` only; nobody edits or deletes them from
the pages or the admin. Who and which station are copied so a row stays readable on its own.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Outcome(models.TextChoices):
    OK = "ok", _("done")
    REFUSED = "refused", _("refused by CWork")
    FORBIDDEN = "forbidden", _("forbidden")
    INVALID = "invalid", _("invalid")
    FAILED = "failed", _("failed")
    UNKNOWN = "unknown", _("outcome unknown")


class ActionKind(models.TextChoices):
    CHANGE_STATE = "change_state", _("change state")
    REPLACE_STATE = "replace_state", _("replace current state")
    FORCE_AUTO = "force_auto", _("force automatic state")
    RESET_PARTS = "reset_parts", _("reset part count")


class ActionAttempt(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        related_name="action_attempts",
    )
    username = models.CharField(_("username"), max_length=150)
    started_at = models.DateTimeField(_("started at"), db_index=True)
    station = models.ForeignKey(
        "stations.Station",
        verbose_name=_("station"),
        on_delete=models.PROTECT,
        related_name="action_attempts",
    )
    station_cwork_id = models.IntegerField(_("station CWork id"))
    action = models.CharField(_("action"), max_length=20, choices=ActionKind.choices)
    #: What was (or would have been) sent, as the user gave it.
    values = models.JSONField(_("values sent"), default=dict, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    cwork_code = models.IntegerField(_("CWork code"), null=True, blank=True)
    cwork_message = models.TextField(_("CWork message"), blank=True)
    duration = models.FloatField(_("duration (s)"), default=0)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("action attempt")
        verbose_name_plural = _("action attempts")
        indexes = [
            models.Index(fields=["station", "started_at"]),
            models.Index(fields=["user", "started_at"]),
        ]

    def __str__(self) -> str:
        when = f"{self.started_at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.username} {self.action} #{self.station_cwork_id}"
