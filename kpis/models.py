"""The shift calendar, the state mapping, parts counted and CWork's own figures, stored.

CWork's API does not expose its calendar, so opening time (the norm's tO) comes from the
calendar kept here, edited in the admin. Part counts have no history in CWork's API either:
the live poll adds what each station made to a tally per quarter hour.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from cwork.oee import Bucket
from stations.models import IntervalQuerySet

WEEKDAYS = (
    ("monday", _("Monday")),
    ("tuesday", _("Tuesday")),
    ("wednesday", _("Wednesday")),
    ("thursday", _("Thursday")),
    ("friday", _("Friday")),
    ("saturday", _("Saturday")),
    ("sunday", _("Sunday")),
)


class Calendar(models.Model):
    """A shift pattern for one or more workshops (3×8, 2×8, day shift...)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    #: Used by every workshop that has no calendar of its own.
    is_default = models.BooleanField(_("default calendar"), default=False)
    workshops = models.JSONField(
        _("workshops"),
        default=list,
        blank=True,
        help_text=_("CWork workshop names that follow this calendar."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("shift calendar")
        verbose_name_plural = _("shift calendars")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_calendar",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.workshops, list) or not all(
            isinstance(w, str) for w in self.workshops
        ):
            raise ValidationError({"workshops": _("Give a list of workshop names.")})
        taken = {
            workshop: other.name
            for other in Calendar.objects.exclude(pk=self.pk)
            for workshop in other.workshops
        }
        clashes = [f"{w} ({taken[w]})" for w in self.workshops if w in taken]
        if clashes:
            raise ValidationError(
                {
                    "workshops": _("Already in another calendar: %(list)s")
                    % {"list": ", ".join(clashes)}
                }
            )


class Shift(models.Model):
    """A shift on some weekdays, from ``start`` to ``end`` local time (past midnight if
    ``end`` ≤ ``start``: a night shift belongs to the day it starts)."""

    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="shifts")
    name = models.CharField(_("name"), max_length=100)
    start = models.TimeField(_("starts at"))
    end = models.TimeField(_("ends at"))
    monday = models.BooleanField(_("Monday"), default=True)
    tuesday = models.BooleanField(_("Tuesday"), default=True)
    wednesday = models.BooleanField(_("Wednesday"), default=True)
    thursday = models.BooleanField(_("Thursday"), default=True)
    friday = models.BooleanField(_("Friday"), default=True)
    saturday = models.BooleanField(_("Saturday"), default=False)
    sunday = models.BooleanField(_("Sunday"), default=False)

    class Meta:
        ordering = ["calendar", "start"]
        verbose_name = _("shift")
        verbose_name_plural = _("shifts")

    def __str__(self) -> str:
        return f"{self.name} {self.start:%H:%M}–{self.end:%H:%M}"

    @property
    def weekdays(self) -> frozenset[int]:
        """Days it starts on, Monday = 0."""
        return frozenset(i for i, (field, _label) in enumerate(WEEKDAYS) if getattr(self, field))

    def clean(self) -> None:
        if self.start == self.end:
            raise ValidationError(_("A shift cannot start and end at the same time."))


class Break(models.Model):
    """A planned pause inside a shift: open time, but not required time (the norm's choice)."""

    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="breaks")
    name = models.CharField(_("name"), max_length=100, blank=True)
    start = models.TimeField(_("starts at"))
    end = models.TimeField(_("ends at"))

    class Meta:
        ordering = ["shift", "start"]
        verbose_name = _("break")
        verbose_name_plural = _("breaks")

    def __str__(self) -> str:
        return f"{self.name or _('Break')} {self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self) -> None:
        if self.start == self.end:
            raise ValidationError(_("A break cannot start and end at the same time."))


class CalendarException(models.Model):
    """A holiday or closure (no opening on that date, or in part of it), or an extra shift."""

    class Kind(models.TextChoices):
        CLOSED = "closed", _("closed (holiday, shutdown)")
        EXTRA = "extra", _("extra shift")

    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    start = models.TimeField(
        _("from"), null=True, blank=True, help_text=_("Empty for a closure of the whole day.")
    )
    end = models.TimeField(
        _("until"), null=True, blank=True, help_text=_("Past midnight if before the start.")
    )

    class Meta:
        ordering = ["calendar", "date", "start"]
        verbose_name = _("calendar exception")
        verbose_name_plural = _("calendar exceptions")

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name}".strip()

    def clean(self) -> None:
        if (self.start is None) != (self.end is None):
            raise ValidationError(_("Give both times, or neither for the whole day."))
        if self.kind == self.Kind.EXTRA and self.start is None:
            raise ValidationError(_("An extra shift needs its start and end times."))
        if self.start is not None and self.start == self.end:
            raise ValidationError(_("The times cannot be equal."))


class StateBucket(models.Model):
    """Where one CWork state's time goes in the norm's cascade, when the default (from its
    OEE category) does not suit the shop."""

    state_cwork_id = models.IntegerField(_("state CWork id"), unique=True)
    bucket = models.CharField(
        _("counts as"),
        max_length=20,
        choices=[
            (Bucket.PRODUCTION.value, _("production (run time)")),
            (Bucket.FAILURE.value, _("failure (own stop, counted in MTBF/MTTR)")),
            (Bucket.OWN_STOP.value, _("own stop (set-up, adjustment, tool change...)")),
            (Bucket.INDUCED_STOP.value, _("induced stop (no material, no operator...)")),
            (Bucket.DISENGAGED.value, _("disengaged (break, maintenance: outside required)")),
        ],
    )

    class Meta:
        ordering = ["state_cwork_id"]
        verbose_name = _("state mapping")
        verbose_name_plural = _("state mappings")

    def __str__(self) -> str:
        return f"{self.state_cwork_id} → {self.bucket}"


class PartTally(models.Model):
    """Parts one station made in one quarter hour, per job and reference cycle time."""

    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="part_tallies"
    )
    slot = models.DateTimeField(_("quarter hour"))
    reference = models.CharField(_("reference"), max_length=200, blank=True)
    order = models.CharField(_("order"), max_length=200, blank=True)
    job = models.CharField(_("job"), max_length=200, blank=True)
    #: The norm's tCR: the job's reference cycle time over the parts each cycle makes; null
    #: when CWork gave no cycle time.
    cycle_time = models.FloatField(_("reference time per part (s)"), null=True, blank=True)
    parts = models.IntegerField(_("parts made"), default=0)

    class Meta:
        ordering = ["station", "slot"]
        verbose_name = _("part tally")
        verbose_name_plural = _("part tallies")
        constraints = [
            models.UniqueConstraint(
                fields=["station", "slot", "order", "job", "reference"],
                name="part_tally_unique",
            )
        ]
        indexes = [models.Index(fields=["slot", "station"])]


class PartCounting(models.Model):
    """Since when the live poll has counted a station's parts without a gap it could not
    account for: parts before this are unknown, not zero."""

    station = models.OneToOneField(
        "stations.Station", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    since = models.DateTimeField(_("counting since"))

    class Meta:
        verbose_name = _("part counting")
        verbose_name_plural = _("part counting")


class CWorkFigures(models.Model):
    """CWork's own ``/stations/{id}/kpi`` for one station and one shift: the cross-check, and
    the quality rate (good parts are known only to CWork)."""

    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="cwork_figures"
    )
    start = models.DateTimeField(_("shift start"))
    end = models.DateTimeField(_("shift end"))
    #: The figures run up to here: the shift's end once it is over, "now" while it runs.
    until = models.DateTimeField(_("figures up to"))
    fetched_at = models.DateTimeField(_("fetched at"))
    times = models.JSONField(_("times"), default=dict)
    rates = models.JSONField(_("rates"), default=dict)

    objects = IntervalQuerySet.as_manager()

    class Meta:
        ordering = ["station", "start"]
        verbose_name = _("CWork figures")
        verbose_name_plural = _("CWork figures")
        constraints = [
            models.UniqueConstraint(fields=["station", "start"], name="cwork_figures_unique")
        ]
        indexes = [models.Index(fields=["start", "station"])]

    @property
    def final(self) -> bool:
        """Fetched after the shift ended: it will not change any more."""
        return self.until >= self.end
