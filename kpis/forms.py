"""The shift review's choice of stations and period, read from the query string."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from core.formatting import local_date, month_label
from kpis.calendar import Calendars, CalendarSpec, Occurrence, find, local, previous_shift
from stations.models import Station

#: The longest period a review covers.
MAX_DAYS = 92

ALL = "all"


class PeriodKind:
    SHIFT = "shift"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    CUSTOM = "custom"

    choices = (
        (SHIFT, _("Shift")),
        (DAY, _("Day")),
        (WEEK, _("Week")),
        (MONTH, _("Month")),
        (CUSTOM, _("Custom range")),
    )


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    start: datetime
    end: datetime
    label: str
    #: ASCII, for file names.
    slug: str
    #: The shift, for a shift review; and the calendar it comes from.
    occurrence: Occurrence | None = None
    spec: CalendarSpec | None = None


def scope_choices(stations: list[Station]) -> list[tuple[str, str]]:
    """ "All", then every workshop, MDC group and DNC group of the given stations."""
    workshops = sorted({s.workshop for s in stations if s.workshop})
    mdc = sorted({g for s in stations for g in (s.mdc_groups or []) if isinstance(g, str) and g})
    dnc = sorted({s.dnc_group for s in stations if s.dnc_group})
    choices: list[tuple[str, str]] = [(ALL, str(_("All stations")))]
    choices += [(f"w:{w}", str(_("Workshop: %(name)s") % {"name": w})) for w in workshops]
    choices += [(f"m:{g}", str(_("MDC group: %(name)s") % {"name": g})) for g in mdc]
    choices += [(f"d:{g}", str(_("DNC group: %(name)s") % {"name": g})) for g in dnc]
    return choices


def in_scope(stations: list[Station], scope: str) -> list[Station]:
    kind, _sep, name = scope.partition(":")
    if scope == ALL:
        return list(stations)
    if kind == "w":
        return [s for s in stations if s.workshop == name]
    if kind == "m":
        return [s for s in stations if name in (s.mdc_groups or [])]
    if kind == "d":
        return [s for s in stations if s.dnc_group == name]
    return []


def specs_of(stations: list[Station], calendars: Calendars) -> list[CalendarSpec]:
    """The distinct calendars of the stations, configured ones first, in station order."""
    out: list[CalendarSpec] = []
    for station in stations:
        spec = calendars.for_workshop(station.workshop)
        if spec not in out:
            out.append(spec)
    return sorted(out, key=lambda spec: not spec.configured)


def default_data(
    stations: list[Station], calendars: Calendars, now: datetime, *, scope: str | None = None
) -> dict[str, str]:
    """The previous shift of the first station in ``scope`` (by default: of the first
    station's workshop), or yesterday when its workshop has no calendar."""
    today = timezone.localtime(now).date()
    first = stations[0] if stations else None
    if scope is None:
        scope = f"w:{first.workshop}" if first is not None and first.workshop else ALL
    else:
        first = next(iter(in_scope(stations, scope)), None)
    data = {
        "scope": scope,
        "period": PeriodKind.DAY,
        "date": (today - timedelta(days=1)).isoformat(),
    }
    if first is not None:
        spec = calendars.for_workshop(first.workshop)
        occ = previous_shift(spec, now) if spec.configured else None
        if occ is not None:
            data.update(period=PeriodKind.SHIFT, date=occ.day.isoformat(), shift=occ.name)
    return data


def review_data(*, workshop: str, day: date, shift: str | None) -> dict[str, str]:
    """The query of a review of one workshop's shift (or its whole day without a shift)."""
    data = {"scope": f"w:{workshop}" if workshop else ALL, "date": day.isoformat()}
    if shift is None:
        return {**data, "period": PeriodKind.DAY}
    return {**data, "period": PeriodKind.SHIFT, "shift": shift}


def review_query(*, workshop: str, day: date, shift: str | None) -> str:
    return urlencode(review_data(workshop=workshop, day=day, shift=shift))


class ReviewForm(forms.Form):
    scope = forms.ChoiceField(label=_("Stations"))
    period = forms.ChoiceField(label=_("Period"), choices=PeriodKind.choices)
    date = forms.DateField(
        label=_("Date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
    )
    shift = forms.ChoiceField(label=_("Shift"), required=False)
    week = forms.CharField(
        label=_("Week"),
        required=False,
        widget=forms.TextInput(attrs={"type": "week", "placeholder": "2026-W48"}),
    )
    month = forms.CharField(
        label=_("Month"),
        required=False,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "2026-11"}),
    )
    start = forms.DateTimeField(
        label=_("From"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )
    end = forms.DateTimeField(
        label=_("To"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )

    def __init__(
        self, data: dict[str, str], *, stations: list[Station], calendars: Calendars
    ) -> None:
        super().__init__(data)
        self.visible = stations
        self.calendars = calendars
        scope, shift = self.fields["scope"], self.fields["shift"]
        assert isinstance(scope, forms.ChoiceField)
        assert isinstance(shift, forms.ChoiceField)
        self._scopes = scope_choices(stations)
        scope.choices = self._scopes
        chosen = in_scope(stations, data.get("scope") or ALL) or stations
        names: list[str] = []
        for spec in specs_of(chosen, calendars):
            if spec.configured:
                names += [s.name for s in spec.shifts if s.name not in names]
        shift.choices = [("", "—")] + [(n, n) for n in names]
        #: The period reviewed, once the form is valid (the field ``period`` is its kind).
        self.chosen_period: Period | None = None
        self.stations: list[Station] = []

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        scope = data.get("scope")
        kind = data.get("period")
        if not scope or not kind:
            return data
        self.stations = in_scope(self.visible, scope)
        if not self.stations:
            raise forms.ValidationError(_("No station in this selection."))
        zone = timezone.get_current_timezone()
        period: Period | None = None
        if kind == PeriodKind.SHIFT:
            period = self._shift(data)
        elif kind == PeriodKind.DAY:
            day = data.get("date")
            if day is None:
                if "date" not in self.errors:
                    self.add_error("date", _("Choose a date."))
                return data
            period = Period(
                kind,
                local(day, time(0), zone),
                local(day + timedelta(days=1), time(0), zone),
                local_date(day),
                day.isoformat(),
            )
        elif kind == PeriodKind.WEEK:
            period = self._week(data.get("week") or "", zone)
        elif kind == PeriodKind.MONTH:
            period = self._month(data.get("month") or "", zone)
        elif kind == PeriodKind.CUSTOM:
            period = self._custom(data)
        if period is not None and period.end - period.start > timedelta(days=MAX_DAYS):
            days = (period.end - period.start) / timedelta(days=1)
            raise forms.ValidationError(
                _("A review covers at most %(max)s days; this period has %(days)s.")
                % {"max": MAX_DAYS, "days": f"{days:.0f}"}
            )
        self.chosen_period = period
        return data

    def _shift(self, data: dict) -> Period | None:
        day, name = data.get("date"), data.get("shift")
        if day is None:
            if "date" not in self.errors:
                self.add_error("date", _("Choose the shift's date."))
            return None
        if not name:
            if "shift" not in self.errors:
                self.add_error("shift", _("Choose a shift."))
            return None
        key = f"{day.isoformat()}/{name}"
        for spec in specs_of(self.stations, self.calendars):
            if not spec.configured:
                continue
            occ = find(spec, key)
            if occ is not None:
                return Period(
                    PeriodKind.SHIFT,
                    occ.start,
                    occ.end,
                    occ.label(),
                    slugify(f"{day.isoformat()}-{name}") or day.isoformat(),
                    occ,
                    spec,
                )
        self.add_error(
            "shift",
            _("No shift “%(shift)s” on %(day)s in these stations' calendars.")
            % {"shift": name, "day": local_date(day)},
        )
        return None

    def _week(self, text: str, zone) -> Period | None:
        try:
            year_text, week_text = text.strip().upper().split("-W")
            monday = date.fromisocalendar(int(year_text), int(week_text), 1)
        except ValueError:
            self.add_error("week", _("Give a week as YYYY-Www (for example 2026-W48)."))
            return None
        year, week, _day = monday.isocalendar()
        return Period(
            PeriodKind.WEEK,
            local(monday, time(0), zone),
            local(monday + timedelta(days=7), time(0), zone),
            str(_("week %(week)s of %(year)s") % {"week": week, "year": year}),
            f"{year}-W{week:02d}",
        )

    def _month(self, text: str, zone) -> Period | None:
        try:
            year_text, month_text = text.strip().split("-")
            first = date(int(year_text), int(month_text), 1)
        except ValueError:
            self.add_error("month", _("Give a month as YYYY-MM (for example 2026-11)."))
            return None
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return Period(
            PeriodKind.MONTH,
            local(first, time(0), zone),
            local(following, time(0), zone),
            month_label(first),
            f"{first.year}-{first.month:02d}",
        )

    def _custom(self, data: dict) -> Period | None:
        start, end = data.get("start"), data.get("end")
        if start is None and "start" not in self.errors:
            self.add_error("start", _("Give the start of the range."))
        if end is None and "end" not in self.errors:
            self.add_error("end", _("Give the end of the range."))
        if start is None or end is None:
            return None
        if end <= start:
            self.add_error("end", _("The end must be after the start."))
            return None
        first, last = timezone.localtime(start), timezone.localtime(end)
        return Period(
            PeriodKind.CUSTOM,
            start,
            end,
            f"{first:%d/%m/%Y %H:%M} – {last:%d/%m/%Y %H:%M}",
            f"{first:%Y%m%dT%H%M}-{last:%Y%m%dT%H%M}",
        )

    def scope_slug(self) -> str:
        scope = self.cleaned_data.get("scope") or ALL
        return slugify(scope.replace(":", "-")) or "stations"

    def scope_label(self) -> str:
        scope = self.cleaned_data.get("scope") or ALL
        return dict(self._scopes).get(scope, scope)
