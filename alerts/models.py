"""Alert rules, their escalation levels and channels, the alerts they raise and every message
sent for them; the end-of-shift report subscriptions and the reports sent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cwork.oee import Bucket
from kpis.models import Shift
from stations.models import State, Station

#: At most this many escalation levels per rule.
MAX_LEVELS = 3


class Condition(models.TextChoices):
    STATE = "state", _("Station in a state for too long")
    STOP = "stop", _("Station stopped (a stop category) for too long")
    ALARM = "alarm", _("Alarm active")
    NOT_REPORTING = "not_reporting", _("Station not reporting")
    BEHIND_PACE = "behind_pace", _("Parts behind pace")
    SHIFT_OEE = "shift_oee", _("Shift OEE below target at shift end")


#: The stop categories a STOP rule may watch ("any stop" is every bucket but production).
STOP_CATEGORIES = [
    ("any", _("any stop")),
    (Bucket.FAILURE.value, _("failure")),
    (Bucket.OWN_STOP.value, _("own stop")),
    (Bucket.INDUCED_STOP.value, _("induced stop")),
    (Bucket.DISENGAGED.value, _("disengaged (breaks, maintenance, no load)")),
]


class Webhook(models.Model):
    """A URL that receives alerts as JSON, signed with a shared secret."""

    class Format(models.TextChoices):
        SLACK = "slack", _("Slack (incoming webhook)")
        TEAMS = "teams", _("Microsoft Teams (incoming webhook)")
        JSON = "json", _("Plain JSON")

    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.URLField(_("URL"), max_length=1000)
    format = models.CharField(_("format"), max_length=10, choices=Format.choices)
    secret = models.CharField(
        _("signing secret"),
        max_length=200,
        blank=True,
        help_text=_("Signs each request (HMAC-SHA256 of the body, header X-Signature-256)."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")

    def __str__(self) -> str:
        return self.name


class AlertRule(models.Model):
    name = models.CharField(_("name"), max_length=200)
    enabled = models.BooleanField(_("enabled"), default=True)
    condition = models.CharField(_("condition"), max_length=20, choices=Condition.choices)
    #: STATE: any of these states.
    states = models.ManyToManyField(State, blank=True, related_name="+", verbose_name=_("states"))
    #: STOP: one of ``STOP_CATEGORIES``.
    stop_category = models.CharField(
        _("stop category"), max_length=20, choices=STOP_CATEGORIES, blank=True
    )
    #: ALARM: the code (exact), the message (a regular expression, any case), or both.
    alarm_code = models.CharField(_("alarm code"), max_length=100, blank=True)
    alarm_pattern = models.CharField(
        _("alarm message pattern"),
        max_length=200,
        blank=True,
        help_text=_("A regular expression, any case: 'spindle|coolant'."),
    )
    #: How long the condition must hold before the alert fires (0: at once).
    minutes = models.PositiveIntegerField(_("for at least (minutes)"), default=0)
    #: BEHIND_PACE: how far behind, in percent; SHIFT_OEE: the target, in percent.
    threshold_percent = models.PositiveSmallIntegerField(_("threshold (%)"), null=True, blank=True)
    #: Scope: none of the three means every station.
    stations = models.ManyToManyField(
        Station, blank=True, related_name="+", verbose_name=_("stations")
    )
    workshops = models.JSONField(_("workshops"), default=list, blank=True)
    #: MDC or DNC group names.
    groups = models.JSONField(_("groups"), default=list, blank=True)
    #: Only during these shifts (none: at all times).
    shifts = models.ManyToManyField(Shift, blank=True, related_name="+", verbose_name=_("shifts"))
    #: No new alert for the same station within this long after the previous one started.
    repeat_minutes = models.PositiveIntegerField(_("quiet time per station (minutes)"), default=30)
    #: At most this many alerts per hour for the rule; more are recorded, not sent.
    max_per_hour = models.PositiveIntegerField(_("at most per hour"), default=20)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")

    def __str__(self) -> str:
        return self.name


class EscalationLevel(models.Model):
    """Who is told, and when: level 1 when the alert fires, the next ones after their delay
    from the firing if it is still active."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="levels")
    level = models.PositiveSmallIntegerField(_("level"))
    delay_minutes = models.PositiveIntegerField(_("after (minutes)"), default=0)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("users")
    )
    #: Further addresses, one per line.
    emails = models.TextField(_("other e-mail addresses"), blank=True)
    webhooks = models.ManyToManyField(
        Webhook, blank=True, related_name="+", verbose_name=_("webhooks")
    )

    class Meta:
        ordering = ["rule", "level"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "level"], name="one_level_number_per_rule")
        ]
        verbose_name = _("escalation level")
        verbose_name_plural = _("escalation levels")

    def __str__(self) -> str:
        return f"{self.rule} · {self.level}"

    def addresses(self) -> list[str]:
        typed = [line.strip() for line in self.emails.splitlines() if line.strip()]
        users = [u.email for u in self.users.all() if u.email]
        return list(dict.fromkeys(users + typed))


class Alert(models.Model):
    """One occurrence of a rule's condition on one station.

    Pending while the condition has not yet held for the rule's minutes (deleted, unsent, if
    it clears before); firing once sent; resolved when the condition clears. A suppressed
    alert (rate limit) is recorded and resolved like the others but never sent.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        FIRING = "firing", _("firing")
        RESOLVED = "resolved", _("resolved")

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="alerts")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    #: Since when the condition holds (CWork's own time where it gives one).
    since = models.DateTimeField(_("condition since"))
    fired_at = models.DateTimeField(_("fired at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    #: The highest escalation level told so far (0: none yet).
    level = models.PositiveSmallIntegerField(_("level"), default=0)
    suppressed = models.BooleanField(_("not sent (rate limit)"), default=False)
    #: What the condition was, in words, when it fired (kept: names change).
    summary = models.CharField(_("summary"), max_length=500, blank=True)

    class Meta:
        ordering = ["-since"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "station"],
                condition=~Q(status="resolved"),
                name="one_open_alert_per_rule_and_station",
            )
        ]
        indexes = [models.Index(fields=["station", "-since"]), models.Index(fields=["status"])]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")

    def __str__(self) -> str:
        return f"{self.rule} · {self.station}"

    @property
    def duration(self):
        if self.resolved_at is None:
            return None
        return self.resolved_at - self.since


class Delivery(models.Model):
    """One message to one recipient: retried with back-off until sent or given up."""

    class Kind(models.TextChoices):
        FIRED = "fired", _("fired")
        ESCALATED = "escalated", _("escalated")
        RESOLVED = "resolved", _("resolved")
        TEST = "test", _("test")
        REPORT = "report", _("end-of-shift report")

    class Channel(models.TextChoices):
        EMAIL = "email", _("e-mail")
        WEBHOOK = "webhook", _("webhook")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    report = models.ForeignKey(
        "ShiftReport", null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    level = models.PositiveSmallIntegerField(_("level"), null=True, blank=True)
    #: An e-mail address, or the webhook (kept as its name: its URL may hold a token).
    recipient = models.CharField(_("recipient"), max_length=300)
    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: What is sent: subject, text and, for webhooks, the event's fields.
    payload = models.JSONField(_("message"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipient}"


class ReportSubscription(models.Model):
    """A user who receives a workshop's end-of-shift report."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shift_reports"
    )
    workshop = models.CharField(_("workshop"), max_length=200)

    class Meta:
        ordering = ["workshop", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "workshop"], name="one_subscription_each")
        ]
        verbose_name = _("end-of-shift report subscription")
        verbose_name_plural = _("end-of-shift report subscriptions")

    def __str__(self) -> str:
        return f"{self.user} · {self.workshop}"


class ShiftReport(models.Model):
    """One workshop's report for one shift: the row is claimed before sending, so the report
    goes out once whatever the number of workers."""

    workshop = models.CharField(_("workshop"), max_length=200)
    #: ``Occurrence.key``: the local date and the shift's name.
    shift_key = models.CharField(_("shift"), max_length=200)
    shift_start = models.DateTimeField(_("shift start"))
    shift_end = models.DateTimeField(_("shift end"))
    created_at = models.DateTimeField(_("created at"))
    #: Set by a hand re-send; the automatic run never sends a report twice.
    resent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("last re-sent by"),
    )

    class Meta:
        ordering = ["-shift_start", "workshop"]
        constraints = [
            models.UniqueConstraint(fields=["workshop", "shift_start"], name="one_report_per_shift")
        ]
        verbose_name = _("end-of-shift report")
        verbose_name_plural = _("end-of-shift reports")

    def __str__(self) -> str:
        return f"{self.workshop} · {self.shift_key}"
