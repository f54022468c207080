"""The time axis under a timeline: ticks at round times of the plant's clock.

Positions come from UTC seconds, so a day of 23 or 25 hours is drawn as it was; every label
is in the plant's time zone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.utils import formats, timezone

from kpis.calendar import local
from kpis.timeline.svg import TIMELINE_WIDTH

HOUR = 3600.0
DAY = 24 * HOUR


@dataclass(frozen=True, slots=True)
class Tick:
    at: datetime
    x: float
    label: str
    #: Labelled on the axis (the others are grid lines only).
    major: bool
    #: Position in percent of the width, for HTML labels.
    percent: float = 0.0
    #: Labelled even where few labels fit (a phone): every sixth hour of a day's axis.
    wide: bool = False


def axis_ticks(start: datetime, end: datetime, width: float = TIMELINE_WIDTH) -> list[Tick]:
    """Ticks at round local times, the step chosen from the period's length: quarter hours
    up to 3 h, hours up to 36 h (23 or 25 on the days the clocks change), 6 h up to 4 days,
    days up to 45 days, weeks (Mondays) beyond."""
    span = (end - start).total_seconds()
    if span <= 0:
        return []
    zone = timezone.get_current_timezone()
    scale = width / span
    found: list[tuple[datetime, str, bool, bool]] = []
    if span <= 3 * HOUR:
        for at in _steps(start, end, 15 * 60):
            minute = at.astimezone(zone).minute
            major = span <= HOUR or minute == 0
            found.append((at, _hm(at), major, major))
    elif span <= 36 * HOUR:
        every = 1 if span <= 12 * HOUR else 3
        for at in _steps(start, end, HOUR):
            moment = at.astimezone(zone)
            if moment.minute == 0:
                found.append((at, _hm(at), moment.hour % every == 0, moment.hour % 6 == 0))
    elif span <= 4 * DAY:
        for at in _steps(start, end, HOUR):
            moment = at.astimezone(zone)
            if moment.minute == 0 and moment.hour % 6 == 0:
                label = _day(at, "D j") if moment.hour == 0 else _hm(at)
                found.append((at, label, True, True))
    elif span <= 45 * DAY:
        for at in _midnights(start, end, zone):
            weekly = span > 10 * DAY
            label = _day(at, "j M" if weekly else "D j")
            major = not weekly or at.astimezone(zone).weekday() == 0
            found.append((at, label, major, major))
    else:
        for at in _midnights(start, end, zone):
            if at.astimezone(zone).weekday() == 0:
                found.append((at, _day(at, "j M"), True, True))
    ticks = []
    for at, label, major, wide in found:
        x = (at - start).total_seconds() * scale
        ticks.append(Tick(at, round(x, 3), label, major, round(100.0 * x / width, 4), wide))
    return ticks


def _steps(start: datetime, end: datetime, step: float) -> Iterator[datetime]:
    """Instants on the local clock's round ``step`` in [start, end), stepped in UTC."""
    zone = timezone.get_current_timezone()
    offset = start.astimezone(zone).utcoffset() or timedelta(0)
    local_seconds = start.timestamp() + offset.total_seconds()
    first = math.ceil(local_seconds / step) * step - offset.total_seconds()
    t, t_end = first, end.timestamp()
    while t < t_end:
        yield datetime.fromtimestamp(t, UTC)
        t += step


def _midnights(start: datetime, end: datetime, zone) -> Iterator[datetime]:
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        at = local(day, time(0), zone)
        if start <= at < end:
            yield at
        day += timedelta(days=1)


def _hm(at: datetime) -> str:
    return timezone.localtime(at).strftime("%H:%M")


def _day(at: datetime, fmt: str) -> str:
    return formats.date_format(timezone.localtime(at), fmt)
