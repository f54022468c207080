"""Shift occurrences and opening time from a calendar, in the plant's time zone.

A :class:`CalendarSpec` is a plain snapshot of one calendar (loaded once with
:func:`load_calendars`), so everything after loading needs no database.

Rules
    - A shift belongs to the local date it starts on; ``end`` ≤ ``start`` means it ends the
      next day (a night shift).
    - Local times are made aware in the plant's zone, then turned into UTC. A time that does
      not exist (02:30 on the spring-forward night) is read as the instant the clocks jump
      (03:00); an ambiguous one (02:30 in the autumn) as its first occurrence. A 21:00–05:00
      night shift therefore lasts 7 h on the spring-forward night and 9 h on the autumn one.
    - Everything returned is UTC: Python subtracts two datetimes of one zone as wall-clock
      times, which would be an hour off across a DST change.
    - A closure exception removes opening (the whole date, or a span of it, past midnight if
      the end is before the start); an extra shift adds one. Where an extra shift and a
      closure overlap, the closure wins. Occurrences left with no opening are dropped.
    - Breaks belong to their shift occurrence: a break time before the shift's start time is
      on the next day.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.utils import timezone
from django.utils.translation import gettext as _

from core.formatting import local_date

#: How far back "previous shift" looks for the last occurrence (a long holiday).
SEARCH_BACK_DAYS = 31

Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class ShiftSpec:
    name: str
    start: time
    end: time
    weekdays: frozenset[int]  # Monday = 0
    breaks: tuple[tuple[time, time], ...] = ()


@dataclass(frozen=True, slots=True)
class ExceptionSpec:
    date: date
    closed: bool  # else an extra shift
    name: str = ""
    start: time | None = None  # None: the whole day (closures only)
    end: time | None = None


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    name: str
    shifts: tuple[ShiftSpec, ...]
    exceptions: tuple[ExceptionSpec, ...] = ()
    #: False for the built-in "always open" fallback, so pages can say so.
    configured: bool = True


ALWAYS_OPEN = CalendarSpec(
    name="24/7",
    shifts=(ShiftSpec("24/7", time(0), time(0), frozenset(range(7))),),
    configured=False,
)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One shift on one day: its span, and its opening and breaks (UTC, inside the span)."""

    name: str
    day: date
    start: datetime
    end: datetime
    opening: tuple[Span, ...]
    breaks: tuple[Span, ...] = field(default=())

    @property
    def key(self) -> str:
        """Stable in URLs: the local date and the shift's name."""
        return f"{self.day.isoformat()}/{self.name}"

    def label(self) -> str:
        return _("%(shift)s, %(day)s") % {"shift": self.name, "day": local_date(self.day)}


def local(day: date, at: time, zone: tzinfo) -> datetime:
    """The UTC instant of a local wall-clock time (see the module's rules for DST)."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != naive:
        # A time skipped by the spring-forward jump: the jump itself.
        utc = _jump_instant(utc, zone)
    return utc


def _jump_instant(after: datetime, zone: tzinfo) -> datetime:
    """The first instant of the UTC offset in force at ``after`` (the moment clocks moved)."""
    offset = after.astimezone(zone).utcoffset()
    lo, hi = after - timedelta(hours=3), after
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == offset:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _span(day: date, start: time, end: time, zone: tzinfo) -> Span:
    end_day = day if end > start else day + timedelta(days=1)
    return local(day, start, zone), local(end_day, end, zone)


def occurrences(
    spec: CalendarSpec, start: datetime, end: datetime, zone: tzinfo | None = None
) -> list[Occurrence]:
    """Shift occurrences overlapping [start, end), in order, with their full spans."""
    zone = zone or timezone.get_current_timezone()
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    closures = _closures(spec, first - timedelta(days=1), last + timedelta(days=1), zone)
    found: list[Occurrence] = []
    for day in _days(first, last):
        for shift in spec.shifts:
            if day.weekday() in shift.weekdays:
                found.append(_occurrence(shift.name, day, shift.start, shift.end, shift, zone))
        for extra in spec.exceptions:
            if extra.date == day and not extra.closed and extra.start and extra.end:
                name = extra.name or _("Extra shift")
                found.append(_occurrence(name, day, extra.start, extra.end, None, zone))
    out: list[Occurrence] = []
    for occ in sorted(found, key=lambda o: (o.start, o.name)):
        if occ.end <= start or occ.start >= end:
            continue
        opening = tuple(subtract(list(occ.opening), closures))
        if not opening:
            continue
        breaks = tuple(b for b in subtract(list(occ.breaks), closures))
        out.append(
            Occurrence(occ.name, occ.day, occ.start, occ.end, opening, clip_all(breaks, opening))
        )
    return out


def _occurrence(
    name: str, day: date, start: time, end: time, shift: ShiftSpec | None, zone: tzinfo
) -> Occurrence:
    s, e = _span(day, start, end, zone)
    breaks: list[Span] = []
    for b_start, b_end in shift.breaks if shift else ():
        b_day = day if b_start >= start else day + timedelta(days=1)
        bs, be = _span(b_day, b_start, b_end, zone)
        bs, be = max(bs, s), min(be, e)
        if be > bs:
            breaks.append((bs, be))
    return Occurrence(name, day, s, e, ((s, e),), tuple(breaks))


def opening(
    spec: CalendarSpec, start: datetime, end: datetime, zone: tzinfo | None = None
) -> tuple[list[Span], list[Span]]:
    """Opening and break spans inside [start, end), merged, in UTC."""
    opens: list[Span] = []
    pauses: list[Span] = []
    for occ in occurrences(spec, start, end, zone):
        opens.extend(_clip(s, e, start, end) for s, e in occ.opening)
        pauses.extend(_clip(s, e, start, end) for s, e in occ.breaks)
    return merge(opens), merge(pauses)


def shift_at(spec: CalendarSpec, moment: datetime, zone: tzinfo | None = None) -> Occurrence | None:
    """The occurrence running at ``moment`` (the later one if two overlap)."""
    running = [
        occ
        for occ in occurrences(
            spec, moment - timedelta(days=1), moment + timedelta(seconds=1), zone
        )
        if occ.start <= moment < occ.end
    ]
    return running[-1] if running else None


def previous_shift(
    spec: CalendarSpec, moment: datetime, zone: tzinfo | None = None
) -> Occurrence | None:
    """The last occurrence that ended at or before ``moment`` (before the current one)."""
    current = shift_at(spec, moment, zone)
    until = current.start if current else moment
    back = until - timedelta(days=SEARCH_BACK_DAYS)
    ended = [occ for occ in occurrences(spec, back, until, zone) if occ.end <= until]
    return ended[-1] if ended else None


def same_shift_days_before(
    spec: CalendarSpec, occ: Occurrence, days: int, zone: tzinfo | None = None
) -> Occurrence | None:
    """The shift of the same name ``days`` earlier (last week's: ``days=7``), if it ran."""
    zone = zone or timezone.get_current_timezone()
    day = occ.day - timedelta(days=days)
    lo = local(day, time(0), zone)
    for candidate in occurrences(spec, lo, lo + timedelta(days=2), zone):
        if candidate.day == day and candidate.name == occ.name:
            return candidate
    return None


def find(spec: CalendarSpec, key: str, zone: tzinfo | None = None) -> Occurrence | None:
    """The occurrence named by :attr:`Occurrence.key`, or None."""
    zone = zone or timezone.get_current_timezone()
    day_text, _sep, name = key.partition("/")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        return None
    lo = local(day, time(0), zone)
    for occ in occurrences(spec, lo, lo + timedelta(days=2), zone):
        if occ.day == day and occ.name == name:
            return occ
    return None


def _closures(spec: CalendarSpec, first: date, last: date, zone: tzinfo) -> list[Span]:
    spans = []
    for exc in spec.exceptions:
        if not exc.closed or not first <= exc.date <= last:
            continue
        if exc.start is None or exc.end is None:
            spans.append(_span(exc.date, time(0), time(0), zone))
        else:
            spans.append(_span(exc.date, exc.start, exc.end, zone))
    return merge(spans)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _clip(s: datetime, e: datetime, lo: datetime, hi: datetime) -> Span:
    return max(s, lo), min(e, hi)


def clip_all(spans: Iterable[Span], within: Iterable[Span]) -> tuple[Span, ...]:
    out = []
    for s, e in spans:
        for ws, we in within:
            a, b = max(s, ws), min(e, we)
            if b > a:
                out.append((a, b))
    return tuple(out)


def merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for s, e in sorted(spans):
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def subtract(spans: list[Span], holes: list[Span]) -> list[Span]:
    """The parts of ``spans`` outside every one of ``holes``."""
    out: list[Span] = []
    for s, e in spans:
        pieces = [(s, e)]
        for hs, he in holes:
            next_pieces = []
            for a, b in pieces:
                if he <= a or hs >= b:
                    next_pieces.append((a, b))
                    continue
                if hs > a:
                    next_pieces.append((a, hs))
                if he < b:
                    next_pieces.append((he, b))
            pieces = next_pieces
        out.extend(pieces)
    return out


def load_calendars() -> tuple[dict[str, CalendarSpec], CalendarSpec]:
    """Every configured calendar by workshop, and the one for other workshops."""
    from kpis.models import Calendar

    by_workshop: dict[str, CalendarSpec] = {}
    default = ALWAYS_OPEN
    calendars = Calendar.objects.prefetch_related("shifts__breaks", "exceptions")
    for cal in calendars:
        spec = CalendarSpec(
            name=cal.name,
            shifts=tuple(
                ShiftSpec(
                    s.name,
                    s.start,
                    s.end,
                    s.weekdays,
                    tuple((b.start, b.end) for b in s.breaks.all()),
                )
                for s in cal.shifts.all()
            ),
            exceptions=tuple(
                ExceptionSpec(x.date, x.kind == x.Kind.CLOSED, x.name, x.start, x.end)
                for x in cal.exceptions.all()
            ),
        )
        for workshop in cal.workshops:
            by_workshop[workshop] = spec
        if cal.is_default:
            default = spec
    return by_workshop, default


class Calendars:
    """Every calendar, loaded once, answering per workshop."""

    def __init__(self) -> None:
        self.by_workshop, self.default = load_calendars()

    def for_workshop(self, workshop: str) -> CalendarSpec:
        return self.by_workshop.get(workshop, self.default)
