"""Reads for the station page: one station's day (the overview of every station by how
urgent it is: ``dashboard.overview``).

Plain functions over the stored data, given ``now``: the views only adapt them to HTTP.
Days are the plant's days (Django's current time zone, ``settings.TIME_ZONE``); every
duration is computed in UTC so that a day of 23 or 25 hours (daylight saving) is measured
as it really was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from core.colours import NEUTRAL, readable_text_color
from core.formatting import format_duration
from dashboard.overview import Severity, severity_of
from dashboard.tiles import Tile, tile_for
from kpis.intervals import state_pieces
from kpis.timeline import Bar, Tick, axis_ticks, day_bars, state_styles
from stations.health import ingest_health
from stations.models import (
    AlarmInterval,
    LiveStatus,
    Operation,
    Order,
    ProgramRun,
    Station,
)

#: At most this many cleared alarms are listed for a day (the count says how many there were).
PAST_ALARMS_SHOWN = 100

#: CWork's order and operation states that mean "in progress" (0 start, 1 resuming, 3 pause).
OPERATION_IN_PROGRESS = (0, 1, 3)


# ----------------------------------------------------------------------------------------
# Durations and days
# ----------------------------------------------------------------------------------------


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Midnight to midnight of ``now``'s day in the plant's time zone, as UTC instants."""
    zone = timezone.get_current_timezone()
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


# ----------------------------------------------------------------------------------------
# One station's day
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateTotal:
    state_name: str
    color: str
    text_color: str
    #: The state's bucket (``kpis.mapping``), as its mark.
    mark: str
    duration: timedelta
    #: Share of the recorded part of the day, in percent.
    percent: float

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration)


@dataclass(frozen=True, slots=True)
class AlarmRow:
    code: str
    message: str
    start: datetime
    end: datetime | None
    duration: timedelta | None

    @property
    def active(self) -> bool:
        return self.end is None

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration) if self.duration is not None else ""


@dataclass(frozen=True, slots=True)
class ProgramRow:
    name: str
    context: str
    start: datetime
    end: datetime | None
    duration: timedelta

    @property
    def active(self) -> bool:
        return self.end is None

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration)


@dataclass(frozen=True, slots=True)
class OperationProgress:
    operation: Operation
    #: The operation the live status names (its job), or the one in progress.
    current: bool

    @property
    def made(self) -> int:
        return self.operation.parts_made or 0

    @property
    def to_make(self) -> int | None:
        return self.operation.parts_to_make

    @property
    def percent(self) -> float | None:
        if not self.to_make:
            return None
        return min(100.0, 100.0 * self.made / self.to_make)

    @property
    def done(self) -> bool:
        return bool(self.to_make) and self.made >= (self.to_make or 0)


@dataclass(frozen=True, slots=True)
class CurrentOrder:
    #: The order's name as the live status gives it (or as stored).
    name: str
    order: Order | None
    operations: list[OperationProgress]


@dataclass(frozen=True, slots=True)
class StationDetail:
    station: Station
    tile: Tile
    severity: Severity
    now: datetime
    day_start: datetime
    day_end: datetime
    #: Today's states, positions in percent of the day.
    timeline: list[Bar]
    ticks: list[Tick]
    #: Where now is on the day's bar, in percent.
    now_percent: float
    totals: list[StateTotal]
    active_alarms: list[AlarmRow]
    past_alarms: list[AlarmRow]
    #: Cleared alarms of the day, of which ``past_alarms`` lists the newest.
    past_alarm_count: int
    running_programs: list[ProgramRow]
    selected_programs: list[ProgramRow]
    order: CurrentOrder | None
    stale: bool
    live_as_of: datetime | None = field(default=None)


def station_detail(station: Station, now: datetime) -> StationDetail:
    """Everything the station page shows about ``station`` today, as of ``now``."""
    station = (
        Station.objects.select_related("live", "live__state").filter(pk=station.pk).first()
        or station
    )
    health = ingest_health(now)
    tile = tile_for(station, stale=health.stale, now=now)
    day_start, day_end = day_bounds(now)
    timeline = day_timeline(station, day_start, day_end, now)
    past, past_count = past_alarms(station, day_start, now)
    return StationDetail(
        station=station,
        tile=tile,
        severity=severity_of(tile),
        now=now,
        day_start=day_start,
        day_end=day_end,
        timeline=timeline,
        ticks=axis_ticks(day_start, day_end, 100.0),
        now_percent=_percent(now - day_start, day_end - day_start),
        totals=state_totals(timeline),
        active_alarms=active_alarms(tile.live, now),
        past_alarms=past,
        past_alarm_count=past_count,
        running_programs=program_history(station, ProgramRun.Kind.RUNNING, day_start, now),
        selected_programs=program_history(station, ProgramRun.Kind.SELECTED, day_start, now),
        order=current_order(station, tile.live),
        stale=health.stale,
        live_as_of=health.live_as_of,
    )


def _percent(part: timedelta, whole: timedelta) -> float:
    if whole <= timedelta(0):
        return 0.0
    return max(0.0, min(100.0, 100.0 * part / whole))


def day_timeline(
    station: Station, day_start: datetime, day_end: datetime, now: datetime
) -> list[Bar]:
    """Today's states, cut at [start of day, now], without holes: the intervals the KPIs
    read (``kpis.intervals.state_pieces``: an open top lasts until the next one starts or
    until now, and a state change the live poll has seen before the history sync is
    included). A stretch nothing covers is "no data", so the bar never shows a state CWork
    did not report."""
    pieces = state_pieces([station.pk], day_start, day_end, now)[station.pk]
    styles = state_styles(unknown_color=NEUTRAL, no_data_color=NEUTRAL)
    return day_bars(pieces, day_start, day_end, min(now, day_end), styles)


def state_totals(timeline: Sequence[Bar]) -> list[StateTotal]:
    """Time in each state today, longest first (stretches without data left out)."""
    sums: dict[tuple[str, str, str], timedelta] = {}
    for bar in timeline:
        if bar.known:
            key = (bar.label, bar.color, bar.mark)
            sums[key] = sums.get(key, timedelta(0)) + bar.duration
    recorded = sum(sums.values(), timedelta(0))
    totals = [
        StateTotal(name, color, readable_text_color(color), mark, total, _percent(total, recorded))
        for (name, color, mark), total in sums.items()
    ]
    totals.sort(key=lambda t: (-t.duration, t.state_name))
    return totals


def active_alarms(live: LiveStatus | None, now: datetime) -> list[AlarmRow]:
    """The alarms the live status reports, newest first."""
    alarms = live.active_alarms() if live else ()
    rows = [AlarmRow(a.code, a.message, a.start, None, now - a.start) for a in alarms]
    rows.sort(key=lambda a: a.start, reverse=True)
    return rows


def past_alarms(station: Station, day_start: datetime, now: datetime) -> tuple[list[AlarmRow], int]:
    """Alarms cleared today (or that ran into today), newest first, and how many there were."""
    cleared = AlarmInterval.objects.filter(station=station, end__isnull=False).overlapping(
        day_start, now
    )
    rows = [
        AlarmRow(a.code, a.message, a.start, a.end, a.end - a.start if a.end else None)
        for a in cleared.order_by("-start", "code")[:PAST_ALARMS_SHOWN]
    ]
    return rows, cleared.count() if len(rows) == PAST_ALARMS_SHOWN else len(rows)


def program_history(
    station: Station, kind: str, day_start: datetime, now: datetime
) -> list[ProgramRow]:
    """Programs of one kind (running or selected) seen today, newest first."""
    runs = (
        ProgramRun.objects.filter(station=station, kind=kind)
        .overlapping(day_start, now)
        .order_by("-start")
    )
    return [
        ProgramRow(run.name, run.context, run.start, run.end, (run.end or now) - run.start)
        for run in runs
    ]


def current_order(station: Station, live: LiveStatus | None) -> CurrentOrder | None:
    """The order the station works on, with its operations here and their progress.

    The live status names the order and the job (CWork's operation); operations are matched
    through their station. Order names are not unique in CWork, so an order with an
    operation on this station is preferred. Without an order in the live status, the
    operations of this station that are in progress stand for it.
    """
    order_name = live.order if live else ""
    job = live.job if live else ""
    here = Operation.objects.filter(station=station, present_in_cwork=True).select_related("order")
    if order_name:
        orders = list(Order.objects.filter(name=order_name).order_by("-created", "-cwork_id"))
        ops = list(here.filter(order__in=orders).order_by("cwork_id"))
        order = ops[0].order if ops else (orders[0] if orders else None)
        if ops and order is not None:
            ops = [op for op in ops if op.order_id == order.pk]
        elif order is not None:
            ops = list(
                order.operations.filter(present_in_cwork=True)
                .select_related("order", "station")
                .order_by("cwork_id")
            )
        return CurrentOrder(name=order_name, order=order, operations=_progress(ops, job, station))
    ops = list(here.filter(current_state__in=OPERATION_IN_PROGRESS).order_by("cwork_id"))
    if not ops:
        return None
    order = ops[0].order
    ops = [op for op in ops if op.order_id == (order.pk if order else None)]
    return CurrentOrder(
        name=order.name if order else "", order=order, operations=_progress(ops, job, station)
    )


def _progress(ops: list[Operation], job: str, station: Station) -> list[OperationProgress]:
    named = [op for op in ops if job and op.name == job and op.station_id == station.pk]
    if named:
        current = {op.pk for op in named}
    else:
        current = {
            op.pk
            for op in ops
            if op.station_id == station.pk and op.current_state in OPERATION_IN_PROGRESS
        }
    return [OperationProgress(op, op.pk in current) for op in ops]
