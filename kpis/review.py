"""The shift review's data: the KPI table with its cross-check, comparisons, parts against
targets, timeline and Paretos. Plain functions; the views only choose what to build.

Every query here is batched over the stations, so the number of queries does not grow with
the number of stations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from core.formatting import format_duration
from cwork import oee
from kpis.calendar import (
    Calendars,
    Occurrence,
    local,
    occurrences,
    previous_shift,
    same_shift_days_before,
)
from kpis.engine import (
    PESSIMISTIC,
    SLOT,
    KpiReport,
    StationKpis,
    fresh_enough,
    station_kpis,
)
from kpis.forms import Period, PeriodKind, specs_of
from kpis.intervals import state_pieces
from kpis.models import PartCounting, PartTally
from kpis.pareto import alarm_pareto, stop_pareto
from kpis.tally import operations_of_jobs
from kpis.timeline import build_timeline
from stations.models import Station

TIME = "time"
RATE = "rate"
COUNT = "count"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    #: CWork's short name, and the norm's French name (for the header's <abbr>).
    short: Any
    norm: Any
    kind: str
    #: Column name in the CSV, with its unit.
    csv: str


COLUMNS: tuple[Column, ...] = (
    Column("ot", _("OT"), _("tO — opening time (temps d'ouverture)"), TIME, "OT (s)"),
    Column("ppt", _("PPT"), _("tR — required time (temps requis)"), TIME, "PPT (s)"),
    Column("rt", _("RT"), _("tF — run time (temps de fonctionnement)"), TIME, "RT (s)"),
    Column("nrt", _("NRT"), _("tN — net run time (temps net)"), TIME, "NRT (s)"),
    Column("fpt", _("FPT"), _("tU — fully productive time (temps utile)"), TIME, "FPT (s)"),
    Column("ft", _("FT"), _("failure time (temps de panne)"), TIME, "FT (s)"),
    Column(
        "no_data",
        _("No data"),
        _(
            "time with no state data (before the stored history, or a hole in it): "
            "left out of every other time"
        ),
        TIME,
        "No data (s)",
    ),
    Column(
        "availability",
        _("Availability"),
        _("DO — operational availability: run time over required time"),
        RATE,
        "Availability (fraction)",
    ),
    Column(
        "performance",
        _("Performance"),
        _("TP — performance: net run time over run time"),
        RATE,
        "Performance (fraction)",
    ),
    Column(
        "quality",
        _("Quality"),
        _("TQ — quality: fully productive time over net run time"),
        RATE,
        "Quality (fraction)",
    ),
    Column(
        "oee",
        _("OEE"),
        _("OEE (TRS) — overall equipment effectiveness: useful time over required time"),
        RATE,
        "OEE (fraction)",
    ),
    Column(
        "gee",
        _("GEE"),
        _("GEE (TRG) — global equipment effectiveness: useful time over opening time"),
        RATE,
        "GEE (fraction)",
    ),
    Column(
        "teep",
        _("TEEP"),
        _("TEEP (TRE) — total effective equipment performance: useful time over total time"),
        RATE,
        "TEEP (fraction)",
    ),
    Column(
        "load", _("Load"), _("TC — load: required time over opening time"), RATE, "Load (fraction)"
    ),
    Column(
        "involvement",
        _("Involvement"),
        _("TS — involvement: opening time over total time"),
        RATE,
        "Involvement (fraction)",
    ),
    Column("mtbf", _("MTBF"), _("mean time between failures"), TIME, "MTBF (s)"),
    Column("mttr", _("MTTR"), _("mean time to repair"), TIME, "MTTR (s)"),
    Column("failures", _("Failures"), _("number of failures"), COUNT, "Failures"),
)

#: The engine's source groups, in words.
SOURCE_LABELS = {
    "calendar": _("opening"),
    "states": _("states"),
    "parts": _("parts"),
    "quality": _("quality"),
    "no_data": _("no data"),
}

#: Figures that need the parts count, and those that also need the quality rate.
NEEDS_PARTS = {"nrt", "performance"}
NEEDS_QUALITY = {"fpt", "quality", "oee", "gee", "teep"}


# ----------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------


def pct(rate: float | None) -> str:
    """A rate as a percentage with the reader's decimal mark (87.5 % or 87,5 %)."""
    return "—" if rate is None else f"{number_format(rate * 100, 1)} %"


def points(delta: float, *, signed: bool = True) -> str:
    value = round(delta * 100, 1) or 0.0  # no "-0.0"
    sign = "+" if signed and value >= 0 else ""
    return f"{sign}{number_format(value, 1)} {_('pts')}"


def text_of(column: Column, value: float | None) -> str:
    if value is None:
        return "—"
    if column.kind == TIME:
        return format_duration(value)
    if column.kind == RATE:
        return pct(value)
    return str(value)


def blank_reason(key: str, kpis: oee.Kpis, sources: dict[str, str]) -> str:
    """Why a figure is blank, in words."""
    if key in NEEDS_PARTS or (key in NEEDS_QUALITY and kpis.nrt is None):
        return str(sources.get("parts") or _("parts made are unknown for this period"))
    if key in NEEDS_QUALITY:
        if key in ("oee",) and kpis.ppt == 0:
            return str(_("no required time in this period"))
        return str(sources.get("quality") or _("no quality rate for this period"))
    if key == "availability":
        return str(_("no required time in this period (closed, or breaks only)"))
    if key == "load":
        return str(_("not open in this period"))
    if key == "involvement":
        return str(_("the period is empty"))
    if key in ("mtbf", "mttr"):
        return str(_("no failure in this period"))
    return str(_("unknown"))


@dataclass(slots=True)
class Cell:
    column: Column
    value: float | None
    text: str
    title: str = ""
    classes: str = ""
    #: For a difference with CWork: CWork's value and the gap, formatted.
    cwork: str = ""
    delta: str = ""


@dataclass(slots=True)
class Row:
    label: str
    station: Station | None
    kpis: oee.Kpis
    cells: list[Cell]
    sources: dict[str, str]
    #: "ok", "differs" or "unchecked"; and the reason when unchecked.
    check: str
    check_note: str
    is_total: bool = False


def has_no_data(kpis: oee.Kpis) -> bool:
    """The whole period is without state data: every figure is unknown (not 0:00)."""
    return kpis.no_data > 0 and kpis.at <= 0


def cells_of(kpis: oee.Kpis, sources: dict[str, str], diffs: list) -> list[Cell]:
    by_figure = {d.figure: d for d in diffs}
    out = []
    empty = has_no_data(kpis)
    for column in COLUMNS:
        value = getattr(kpis, column.key)
        if empty and column.key != "no_data":
            value = None
        cell = Cell(column, value, text_of(column, value))
        classes = [column.kind]
        if value is None:
            cell.title = (
                str(_("no state data in this period"))
                if empty
                else blank_reason(column.key, kpis, sources)
            )
            classes.append("blank")
        if column.key == "performance" and value is not None and value > 1:
            classes.append("over")
            cell.title = str(PESSIMISTIC)
        diff = by_figure.get(column.key)
        if diff is not None:
            classes.append("differs")
            cell.cwork = text_of(column, diff.cwork)
            if diff.delta is None:
                cell.delta = str(_("one side blank"))
            elif diff.is_rate:
                cell.delta = points(diff.delta)
            else:
                cell.delta = format_duration(diff.delta, signed=True)
            cell.title = str(
                _("ours %(ours)s, CWork %(cwork)s (%(delta)s)")
                % {"ours": cell.text, "cwork": cell.cwork, "delta": cell.delta}
            )
        cell.classes = " ".join(classes)
        out.append(cell)
    return out


def tolerance() -> dict[str, str]:
    seconds = float(settings.KPI_CROSSCHECK_SECONDS)
    return {"seconds": f"{seconds:g}", "points": f"{float(settings.KPI_CROSSCHECK_POINTS):g}"}


# ----------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------


def unchecked_reason(
    station: Station, calendars: Calendars, start: datetime, until: datetime
) -> str:
    """Why CWork's figures do not cover a station's period (they are stored per shift)."""
    spec = calendars.for_workshop(station.workshop)
    if not spec.configured:
        return str(_("no calendar configured: CWork's figures are kept per shift"))
    shifts = occurrences(spec, start, until)
    if not shifts:
        return str(_("no shift in this period"))
    if shifts[0].start < start or shifts[-1].end > until + fresh_enough():
        return str(_("the period does not start and end on shift boundaries"))
    return str(_("CWork's figures are missing for some shifts of the period"))


def table(report: KpiReport, calendars: Calendars) -> tuple[list[Row], Row]:
    rows = []
    for item in report.rows:
        rows.append(_row(item, calendars, report))
    reasons = {r.check_note for r in rows if r.check == "unchecked"}
    if report.total_cwork is None:
        check, note = (
            "unchecked",
            ("; ".join(sorted(reasons)) if reasons else str(_("no station is cross-checked"))),
        )
    else:
        check, note = ("differs" if report.total_differences else "ok"), ""
    total = Row(
        label=str(_("Total")),
        station=None,
        kpis=report.total,
        cells=cells_of(report.total, {}, report.total_differences),
        sources={},
        check=check,
        check_note=note,
        is_total=True,
    )
    # The total's blanks: explain from the rows.
    for cell in total.cells:
        if cell.value is None and cell.column.key in NEEDS_PARTS | NEEDS_QUALITY:
            cell.title = str(_("blank for at least one station: see its row"))
    return rows, total


def _row(item: StationKpis, calendars: Calendars, report: KpiReport) -> Row:
    if item.cwork is None:
        check = "unchecked"
        note = unchecked_reason(item.station, calendars, report.start, report.until)
    else:
        check, note = ("differs" if item.differences else "ok"), ""
    return Row(
        label=item.station.name,
        station=item.station,
        kpis=item.kpis,
        cells=cells_of(item.kpis, item.sources, item.differences),
        sources={str(SOURCE_LABELS.get(k, k)): v for k, v in item.sources.items()},
        check=check,
        check_note=note,
    )


# ----------------------------------------------------------------------------------------
# Parts against targets
# ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class PartsLine:
    order: str
    job: str
    reference: str
    parts: float
    parts_made: int | None = None
    parts_to_make: int | None = None

    @property
    def progress(self) -> float | None:
        if not self.parts_to_make or self.parts_made is None:
            return None
        return self.parts_made / self.parts_to_make

    @property
    def progress_pct(self) -> str:
        return pct(self.progress)

    @property
    def progress_width(self) -> int:
        return 0 if self.progress is None else max(0, min(100, round(self.progress * 100)))


def parts_made(
    station_ids: list[int], start: datetime, until: datetime
) -> dict[tuple[str, str, str], float]:
    """Parts made per (order, job, reference); quarter hours cut by the edges pro rata, as
    the KPI engine counts them. One query."""
    out: dict[tuple[str, str, str], float] = defaultdict(float)
    if until <= start:
        return out
    rows = PartTally.objects.filter(
        station_id__in=station_ids, slot__gt=start - SLOT, slot__lt=until
    ).values_list("slot", "order", "job", "reference", "parts")
    for slot, order, job, reference, parts in rows.iterator(chunk_size=5000):
        inside = (min(slot + SLOT, until) - max(slot, start)) / SLOT
        if inside > 0:
            out[(order, job, reference)] += parts * min(1.0, inside)
    return out


def parts_lines(station_ids: list[int], start: datetime, until: datetime) -> list[PartsLine]:
    """Parts made in the period per order/job/reference, with the operation's target."""
    made = parts_made(station_ids, start, until)
    lines = [
        PartsLine(order, job, reference, parts)
        for (order, job, reference), parts in made.items()
        if parts > 0
    ]
    pairs = {(line.order, line.job) for line in lines if line.order or line.job}
    if pairs:
        totals: dict[tuple[str, str], list[int | None]] = {}
        for key, ops in operations_of_jobs(pairs).items():
            entry = totals.setdefault(key, [None, None])
            for op in ops:
                if op.parts_to_make is not None:
                    entry[0] = (entry[0] or 0) + op.parts_to_make
                if op.parts_made is not None:
                    entry[1] = (entry[1] or 0) + op.parts_made
        for line in lines:
            summed = totals.get((line.order, line.job))
            if summed:
                line.parts_to_make, line.parts_made = summed
    return sorted(lines, key=lambda line: (line.order, line.job, line.reference))


def total_parts(station_ids: list[int], start: datetime, until: datetime) -> float | None:
    """Parts the stations made in the period; None (unknown, not 0) when the dashboard began
    counting one of them after the period started."""
    counting = dict(
        PartCounting.objects.filter(station_id__in=station_ids).values_list("station", "since")
    )
    if any(counting.get(sid) is None or counting[sid] > start for sid in station_ids):
        return None
    return sum(parts_made(station_ids, start, until).values())


# ----------------------------------------------------------------------------------------
# Comparison
# ----------------------------------------------------------------------------------------


COMPARED = (
    ("oee", _("OEE"), RATE),
    ("availability", _("Availability"), RATE),
    ("performance", _("Performance"), RATE),
    ("quality", _("Quality"), RATE),
    ("rt", _("Run time"), TIME),
    ("parts", _("Parts"), COUNT),
)


@dataclass(slots=True)
class Compared:
    label: str
    start: datetime
    end: datetime
    #: (name, value text, delta text of this period minus the compared one, css class).
    figures: list[tuple[str, str, str, str]]


def _figures(kpis: oee.Kpis, parts: float | None) -> dict[str, float | None]:
    """The compared figures; all blank for a period with no state data at all."""
    if has_no_data(kpis):
        return dict.fromkeys((key for key, *_rest in COMPARED), None)
    out: dict[str, float | None] = {key: getattr(kpis, key, None) for key, *_rest in COMPARED}
    out["parts"] = parts
    return out


def _format(kind: str, value: float | None) -> str:
    if value is None:
        return "—"
    if kind == RATE:
        return pct(value)
    if kind == TIME:
        return format_duration(value)
    return f"{value:.0f}"


def _delta(kind: str, now: float | None, then: float | None) -> tuple[str, str]:
    if now is None or then is None:
        return "—", ""
    gap = now - then
    css = "up" if gap > 0 else ("down" if gap < 0 else "")
    if kind == RATE:
        return points(gap), css
    if kind == TIME:
        return format_duration(gap, signed=True), css
    return f"{gap:+.0f}", css


def compared_periods(period: Period) -> list[tuple[str, datetime, datetime]]:
    """What a period is compared with: a shift with the previous shift and last week's; any
    other period with the one just before it."""
    zone = timezone.get_current_timezone()
    out: list[tuple[str, datetime, datetime]] = []
    if period.kind == PeriodKind.SHIFT and period.occurrence and period.spec:
        occ = period.occurrence
        before: Occurrence | None = previous_shift(period.spec, occ.start)
        if before is not None:
            out.append(
                (
                    str(_("Previous shift: %(label)s") % {"label": before.label()}),
                    before.start,
                    before.end,
                )
            )
        week = same_shift_days_before(period.spec, occ, 7)
        if week is not None:
            out.append(
                (
                    str(_("Same shift last week: %(label)s") % {"label": week.label()}),
                    week.start,
                    week.end,
                )
            )
        return out
    local_start = timezone.localtime(period.start).date()
    if period.kind == PeriodKind.DAY:
        day = local_start - timedelta(days=1)
        out.append((str(_("Previous day")), local(day, time(0), zone), period.start))
    elif period.kind == PeriodKind.WEEK:
        monday = local_start - timedelta(days=7)
        out.append((str(_("Previous week")), local(monday, time(0), zone), period.start))
    elif period.kind == PeriodKind.MONTH:
        first = date(
            local_start.year - (local_start.month == 1), (local_start.month - 2) % 12 + 1, 1
        )
        out.append((str(_("Previous month")), local(first, time(0), zone), period.start))
    else:
        length = period.end - period.start
        out.append(
            (str(_("Previous period of the same length")), period.start - length, period.start)
        )
    return out


def comparisons(
    stations: list[Station],
    period: Period,
    report: KpiReport,
    parts_now: float | None,
    *,
    now: datetime,
    calendars: Calendars,
) -> tuple[list[tuple[str, str]], list[Compared]]:
    """The chosen period's totals and, for each compared period, its totals and the gaps."""
    ids = [s.pk for s in stations]
    current = _figures(report.total, parts_now)
    head = [(str(name), _format(kind, current[key])) for key, name, kind in COMPARED]
    out = []
    for label, start, end in compared_periods(period):
        other = station_kpis(stations, start, end, now=now, calendars=calendars)
        values = _figures(other.total, total_parts(ids, start, other.until))
        figures = []
        for key, name, kind in COMPARED:
            delta, css = _delta(kind, current[key], values[key])
            figures.append((str(name), _format(kind, values[key]), delta, css))
        out.append(Compared(label, start, end, figures))
    return head, out


# ----------------------------------------------------------------------------------------
# The whole review
# ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Review:
    period: Period
    stations: list[Station]
    report: KpiReport
    rows: list[Row]
    total: Row
    parts: list[PartsLine]
    current: list[tuple[str, str]] = field(default_factory=list)
    compared: list[Compared] = field(default_factory=list)
    timeline: Any = None
    stop_pareto: Any = None
    alarm_pareto: Any = None


def build_review(
    stations: list[Station],
    period: Period,
    *,
    now: datetime,
    calendars: Calendars | None = None,
    full: bool = True,
) -> Review:
    """The review of the stations over the period; ``full=False`` leaves out what only the
    page shows (comparisons, timeline, Paretos), for the exports."""
    calendars = calendars or Calendars()
    ids = [s.pk for s in stations]
    # The states are read once, for the table, the timeline and the stop Pareto.
    pieces = state_pieces(ids, period.start, period.end, now)
    report = station_kpis(
        stations, period.start, period.end, now=now, calendars=calendars, pieces=pieces
    )
    rows, total = table(report, calendars)
    parts = parts_lines(ids, period.start, report.until)
    review = Review(period, stations, report, rows, total, parts)
    if full:
        parts_now = total_parts(ids, period.start, report.until)
        review.current, review.compared = comparisons(
            stations, period, report, parts_now, now=now, calendars=calendars
        )
        review.timeline = build_timeline(stations, period.start, period.end, now=now, pieces=pieces)
        review.stop_pareto = stop_pareto(stations, period.start, period.end, now=now, pieces=pieces)
        review.alarm_pareto = alarm_pareto(stations, period.start, period.end, now=now)
    return review


__all__ = ["COLUMNS", "Review", "build_review", "specs_of"]
