"""What CWork tells us, stored: the catalogue, the live status and the history.

Rows are keyed by CWork's own ids (``cwork_id``) so that a re-sync updates in place. History
rows are intervals (``end`` is null while open) with a natural unique key, so a record seen
twice (by the live poll and by the history sync) is stored once.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from django.db import models
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from stations.live_alarms import LiveAlarm, decode_alarms


class State(models.Model):
    """One of CWork's state definitions (running, breakdown, set-up, ...)."""

    cwork_id = models.IntegerField(_("CWork id"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    color = models.CharField(_("colour"), max_length=7, blank=True)
    oee_category = models.IntegerField(_("OEE category"), null=True, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent state"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
    )
    close_day = models.BooleanField(_("closes the day"), null=True)
    prod_percent = models.BooleanField(_("counts in production rate"), null=True)
    use_percent = models.BooleanField(_("counts in use rate"), null=True)
    archived = models.BooleanField(_("archived"), default=False)
    present_in_cwork = models.BooleanField(_("present in CWork"), default=True)
    synced_at = models.DateTimeField(_("synced at"))

    class Meta:
        ordering = ["cwork_id"]
        verbose_name = _("state")
        verbose_name_plural = _("states")

    def __str__(self) -> str:
        return self.name


class Station(models.Model):
    """A CNC machine as CWork knows it; kept (not deleted) when CWork drops it."""

    cwork_id = models.IntegerField(_("CWork id"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    workshop = models.CharField(_("workshop"), max_length=200, blank=True, db_index=True)
    dnc_group = models.CharField(_("DNC group"), max_length=200, blank=True, db_index=True)
    mdc_groups = models.JSONField(_("MDC groups"), default=list, blank=True)
    disabled = models.BooleanField(_("disabled"), default=False)
    dnc_mode = models.BooleanField(_("DNC mode"), null=True)
    mdc_mode = models.BooleanField(_("MDC mode"), null=True)
    present_in_cwork = models.BooleanField(_("present in CWork"), default=True)
    synced_at = models.DateTimeField(_("synced at"))
    #: History (tops, alarms, programs) is stored without holes up to this instant.
    history_synced_until = models.DateTimeField(_("history synced until"), null=True, blank=True)
    #: The live poll saw a change the history sync has not confirmed yet.
    history_due = models.BooleanField(_("history sync due"), default=True)

    class Meta:
        ordering = ["name", "cwork_id"]
        verbose_name = _("station")
        verbose_name_plural = _("stations")
        indexes = [models.Index(fields=["history_due", "history_synced_until"])]

    def __str__(self) -> str:
        return self.name


class LiveStatus(models.Model):
    """A station's latest status as CWork reported it; only written when it changes."""

    station = models.OneToOneField(
        Station, primary_key=True, on_delete=models.CASCADE, related_name="live"
    )
    state = models.ForeignKey(
        State, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state_cwork_id = models.IntegerField(_("state CWork id"), null=True)
    since = models.DateTimeField(_("in this state since"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    reference = models.CharField(_("reference"), max_length=200, blank=True)
    order = models.CharField(_("order"), max_length=200, blank=True)
    job = models.CharField(_("job"), max_length=200, blank=True)
    job_cycle_time = models.IntegerField(_("cycle time (s)"), null=True, blank=True)
    part_target = models.IntegerField(_("part target"), null=True, blank=True)
    total_parts = models.IntegerField(_("total parts"), null=True, blank=True)
    parts_since_reset = models.IntegerField(_("parts since reset"), null=True, blank=True)
    running_program = models.CharField(_("running program"), max_length=500, blank=True)
    selected_program = models.CharField(_("selected program"), max_length=500, blank=True)
    #: Active alarms as [code, message, start ISO], in CWork's order: read them through
    #: ``active_alarms`` (``stations.live_alarms``), never by index.
    alarms = models.JSONField(_("active alarms"), default=list, blank=True)
    changed_at = models.DateTimeField(_("changed at"))
    #: Set while CWork leaves the station out of its answers (or sends it unreadable).
    missing_since = models.DateTimeField(_("not reported since"), null=True, blank=True)
    #: When the part count started from its current value's base: the job's change or the
    #: count's reset, as the live poll saw it (unknown for a station first seen mid-job).
    counting_since = models.DateTimeField(_("counting parts since"), null=True, blank=True)

    class Meta:
        verbose_name = _("live status")
        verbose_name_plural = _("live statuses")

    def __str__(self) -> str:
        return f"{self.station_id}: {self.state_cwork_id}"

    def active_alarms(self) -> tuple[LiveAlarm, ...]:
        """The stored alarms, typed, in CWork's order (an unreadable row logged, left out)."""
        return decode_alarms(self.alarms, station_id=self.station_id)


_Row = TypeVar("_Row", bound=models.Model)


class IntervalQuerySet(models.QuerySet[_Row]):
    """Rows with a ``start`` and an ``end`` (null while still open)."""

    def overlapping(self, start: datetime, end: datetime) -> IntervalQuerySet[_Row]:
        """The rows that share time with [start, end): begun before ``end``, not over by
        ``start``. One still open is running, so it overlaps every period after its start;
        one that ends at ``start`` or begins at ``end`` only touches the period."""
        return self.filter(Q(end__isnull=True) | Q(end__gt=start), start__lt=end)


class Interval(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"), null=True, blank=True)

    objects = IntervalQuerySet.as_manager()

    class Meta:
        abstract = True


class Top(Interval):
    """A state interval: CWork's tops, unique per station and start."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="tops")
    state = models.ForeignKey(State, null=True, on_delete=models.SET_NULL, related_name="+")
    state_cwork_id = models.IntegerField(_("state CWork id"))
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        ordering = ["station", "start"]
        verbose_name = _("state interval")
        verbose_name_plural = _("state intervals")
        constraints = [
            models.UniqueConstraint(fields=["station", "start"], name="top_unique_start")
        ]
        indexes = [models.Index(fields=["start", "station"])]


class AlarmInterval(Interval):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="alarm_intervals")
    code = models.CharField(_("code"), max_length=100)
    message = models.TextField(_("message"), blank=True)

    class Meta:
        ordering = ["station", "start"]
        verbose_name = _("alarm")
        verbose_name_plural = _("alarms")
        constraints = [
            models.UniqueConstraint(fields=["station", "code", "start"], name="alarm_unique_start")
        ]
        indexes = [
            models.Index(fields=["station", "start"]),
            models.Index(fields=["start"]),
            models.Index(fields=["station"], condition=Q(end=None), name="alarm_active"),
        ]


class ProgramRun(Interval):
    class Kind(models.TextChoices):
        RUNNING = "running", _("running")
        SELECTED = "selected", _("selected")

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="program_runs")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("program"), max_length=500)
    context = models.CharField(_("context"), max_length=500, blank=True)
    #: Opened by the live poll at the time it saw the change; the history sync replaces it
    #: with CWork's own record.
    provisional = models.BooleanField(_("provisional"), default=False)

    class Meta:
        ordering = ["station", "kind", "start"]
        verbose_name = _("program run")
        verbose_name_plural = _("program runs")
        constraints = [
            models.UniqueConstraint(
                fields=["station", "kind", "start"], name="program_unique_start"
            )
        ]
        indexes = [models.Index(fields=["start"])]


class Order(models.Model):
    cwork_id = models.IntegerField(_("CWork id"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    created = models.DateTimeField(_("created"), null=True, blank=True)
    description = models.TextField(_("description"), blank=True)
    part_reference = models.CharField(_("part reference"), max_length=200, blank=True)
    client = models.CharField(_("client"), max_length=200, blank=True)
    current_state = models.IntegerField(_("state"), null=True, blank=True)
    valid = models.BooleanField(_("valid"), null=True)
    archived = models.BooleanField(_("archived"), null=True)
    present_in_cwork = models.BooleanField(_("present in CWork"), default=True)
    synced_at = models.DateTimeField(_("synced at"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return self.name


class Operation(models.Model):
    cwork_id = models.IntegerField(_("CWork id"), unique=True)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="operations"
    )
    station = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.SET_NULL, related_name="operations"
    )
    name = models.CharField(_("name"), max_length=200)
    created = models.DateTimeField(_("created"), null=True, blank=True)
    description = models.TextField(_("description"), blank=True)
    document_id = models.IntegerField(_("document id"), null=True, blank=True)
    current_state = models.IntegerField(_("state"), null=True, blank=True)
    parts_to_make = models.IntegerField(_("parts to make"), null=True, blank=True)
    parts_made = models.IntegerField(_("parts made"), null=True, blank=True)
    parts_per_cycle = models.IntegerField(_("parts per cycle"), null=True, blank=True)
    cycle_time = models.IntegerField(_("reference cycle time (s)"), null=True, blank=True)
    present_in_cwork = models.BooleanField(_("present in CWork"), default=True)
    synced_at = models.DateTimeField(_("synced at"))

    class Meta:
        ordering = ["order", "cwork_id"]
        verbose_name = _("operation")
        verbose_name_plural = _("operations")

    def __str__(self) -> str:
        return self.name


class SyncKind(models.TextChoices):
    """The ingest's own jobs (``stations.jobs.JOBS``)."""

    LIVE = "live", _("live status")
    CATALOGUE = "catalogue", _("stations and states")
    HISTORY = "history", _("tops, alarms and programs")
    ORDERS = "orders", _("orders and operations")


#: Every kind of job a run is recorded under, with its name: the ingest's own, then those
#: other apps add with ``stations.jobs.register`` (kpis: "kpis", CWork's KPIs per shift).
JOB_KINDS: dict[str, str | Promise] = dict(SyncKind.choices)


def job_kinds() -> list[tuple[str, str | Promise]]:
    """The choices of a run's kind, read when used, so that registered jobs are among them."""
    return list(JOB_KINDS.items())


class PollRecord(models.Model):
    """One run of one kind of poll: health and staleness are read from these, not guessed."""

    kind = models.CharField(_("kind"), max_length=20, choices=job_kinds)
    started_at = models.DateTimeField(_("started at"))
    duration = models.FloatField(_("duration (s)"))
    ok = models.BooleanField(_("succeeded"))
    stations_seen = models.IntegerField(_("stations seen"), default=0)
    stations_changed = models.IntegerField(_("stations changed"), default=0)
    rows_written = models.IntegerField(_("rows written"), default=0)
    #: How many stations changed in each field ({"state": 3, "alarms": 1}).
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    #: Records CWork sent that could not be read, each with its reason.
    problems = models.JSONField(_("problems"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("poll record")
        verbose_name_plural = _("poll records")
        indexes = [models.Index(fields=["kind", "ok", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.started_at:%Y-%m-%d %H:%M:%S}"


class SyncState(models.Model):
    """Per kind of poll: its back-off after failures, and a missing CWork licence."""

    kind = models.CharField(_("kind"), max_length=20, choices=job_kinds, unique=True)
    failures = models.IntegerField(_("consecutive failures"), default=0)
    retry_at = models.DateTimeField(_("next attempt not before"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    #: Why CWork cannot serve this kind at all (a licence it lacks), until ``retry_at``.
    unavailable = models.TextField(_("unavailable because"), blank=True)

    class Meta:
        verbose_name = _("sync state")
        verbose_name_plural = _("sync states")

    def __str__(self) -> str:
        return self.kind
