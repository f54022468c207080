"""The shift review's timeline laid out: each station's states, alarms and running programs
over a period, as bars ready to draw in one SVG row per station (:mod:`.svg` draws them,
:mod:`.axis` ticks the time under them); and one station's day as bars for the station page.

Why it is shaped this way
    - A review can span 90 days of 100 stations: hundreds of thousands of records. Each lane
      is reduced in one pass (O(records)): adjacent bars of the same kind are merged, and
      records narrower than one user unit are pooled per unit column, the column drawn in
      whatever covers most of it. A lane never holds more than about two bars per column,
      whatever the history.
    - Positions come from UTC seconds, so a day of 23 or 25 hours is drawn as it was.
    - Time no record covers is "no data", never a state; the future is left blank.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.formatting import format_duration
from cwork.oee import Bucket
from kpis.intervals import StatePiece, state_pieces
from kpis.mapping import NO_STATE, bucket_of, cached_state_buckets, mark_label
from kpis.timeline.axis import HOUR, Tick, axis_ticks
from kpis.timeline.svg import (
    ALARM,
    ALARM_COLOR,
    NO_DATA,
    NO_DATA_COLOR,
    PROGRAM,
    PROGRAM_COLORS,
    ROW_HEIGHT,
    STATE,
    TIMELINE_WIDTH,
    UNKNOWN_STATE_COLOR,
    row_markup,
    text_color,
)
from stations.models import AlarmInterval, IntervalQuerySet, ProgramRun, State, Station

#: Records narrower than this (user units) are pooled per column of this width: one pixel
#: of the drawing at its usual size (800 px for 1600 units).
COLUMN = 2.0

#: A merged bar lists at most this many distinct comments (alarm labels).
MAX_NOTES = 3
#: Bars drawn with their own details (hover text and data for the panel) in a whole
#: timeline; beyond, each row details its widest bars and draws the rest as one path per
#: state, which keeps a 90-day page of 100 stations to a couple of megabytes.
DETAIL_BUDGET = 3000
#: ... but at least this many per row.
ROW_DETAIL_MIN = 30


@dataclass(frozen=True, slots=True)
class Bar:
    """One drawn rectangle."""

    x: float
    width: float
    color: str
    #: The state's name, "code – message" of the alarm(s), or the program's name.
    label: str
    start: datetime
    end: datetime
    comment: str
    #: ``state``, ``nodata``, ``alarm`` or ``program``.
    kind: str = STATE
    #: False for a stretch no record covers.
    known: bool = True
    #: A pooled column: ``label`` covers most of it, other records the rest.
    mixed: bool = False
    #: Still running now (its end is "now").
    ongoing: bool = False
    text_color: str = "#000000"
    #: The state's bucket of the norm (``kpis.mapping``): its pattern and name; "" for
    #: alarms, programs and no data.
    mark: str = ""

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration)


@dataclass(frozen=True, slots=True)
class LegendItem:
    label: str
    color: str
    kind: str
    #: The bucket's icon and pattern (``mark-*``, ``pat-*`` in marks.css); "" for alarms
    #: and programs.
    mark: str = ""

    @property
    def mark_label(self) -> str:
        return str(mark_label(self.mark)) if self.mark else ""


@dataclass(frozen=True, slots=True)
class StateStyles:
    """How the states are named, coloured and marked on a drawing, by CWork state id: the
    mark is the state's bucket (``kpis.mapping``), so two states of one name keep their own
    and a renamed state keeps its."""

    #: CWork state id → (name, colour).
    catalogue: dict[int, tuple[str, str]]
    buckets: dict[int, Bucket]
    #: CWork state id → its bucket's mark.
    marks: dict[int | None, str]
    #: For a state the catalogue has no colour for (or does not know yet).
    unknown_color: str = UNKNOWN_STATE_COLOR
    #: For a stretch no record covers.
    no_data_color: str = NO_DATA_COLOR


def state_styles(
    *, unknown_color: str = UNKNOWN_STATE_COLOR, no_data_color: str = NO_DATA_COLOR
) -> StateStyles:
    """The state catalogue as it is now, with the process's copy of the mapping."""
    catalogue = {
        cwork_id: (name, color or unknown_color)
        for cwork_id, name, color in State.objects.values_list("cwork_id", "name", "color")
    }
    buckets = cached_state_buckets()
    marks: dict[int | None, str] = {key: bucket_of(buckets, key).value for key in catalogue}
    return StateStyles(catalogue, buckets, marks, unknown_color, no_data_color)


@dataclass(frozen=True, slots=True)
class TimelineRow:
    station: Station
    states: list[Bar]
    alarms: list[Bar]
    programs: list[Bar]
    #: The row in words, for screen readers (time per state, alarm count).
    summary: str = ""
    #: strftime format of the times in the details (with the date on long periods).
    time_format: str = "%H:%M"
    #: How many bars get their own details (see :data:`DETAIL_BUDGET`).
    detail_budget: int = DETAIL_BUDGET

    @property
    def markup(self) -> SafeString:
        """The row's rectangles (the template writes the ``<svg>`` around them)."""
        return row_markup(
            self.states,
            self.alarms,
            self.programs,
            time_format=self.time_format,
            detail_budget=self.detail_budget,
        )


@dataclass(frozen=True, slots=True)
class Timeline:
    start: datetime
    end: datetime
    width: float
    rows: list[TimelineRow]
    ticks: list[Tick]
    #: Where the drawing stops (now, for a period still running).
    until: datetime | None = None
    #: Where now is, in percent of the width (None outside the period).
    now_percent: float | None = None
    legend: list[LegendItem] = field(default_factory=list)
    height: int = ROW_HEIGHT

    @property
    def start_ms(self) -> int:
        """For the script, which tells the time under the pointer on pooled stretches."""
        return round(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return round(self.end.timestamp() * 1000)

    @property
    def time_zone(self) -> str:
        return timezone.get_current_timezone_name()

    @property
    def summary(self) -> str:
        start = timezone.localtime(self.start).strftime("%d/%m/%Y %H:%M")
        end = timezone.localtime(self.end).strftime("%d/%m/%Y %H:%M")
        return ngettext(
            "Timeline of %(count)d station from %(start)s to %(end)s",
            "Timeline of %(count)d stations from %(start)s to %(end)s",
            len(self.rows),
        ) % {"count": len(self.rows), "start": start, "end": end}


# ----------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------


def build_timeline(
    stations: Sequence[Station],
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    width: float = TIMELINE_WIDTH,
    pieces: dict[int, list[StatePiece]] | None = None,
) -> Timeline:
    """Every station's states, alarms and running programs over [start, end), cut at now.
    Three queries whatever the number of stations."""
    ids = [s.pk for s in stations]
    until = max(start, min(end, now))
    span = (end - start).total_seconds()
    scale = width / span if span > 0 else 0.0
    t_start, t_until, t_now = start.timestamp(), until.timestamp(), now.timestamp()
    styles = state_styles()
    buckets, marks = styles.buckets, styles.marks
    if pieces is None:
        pieces = state_pieces(ids, start, end, now)
    alarms = _alarm_rows(ids, start, until)
    programs = _program_rows(ids, start, until)
    long_period = span > 36 * HOUR
    time_format = "%d/%m %H:%M" if long_period else "%H:%M"
    detail_budget = max(ROW_DETAIL_MIN, DETAIL_BUDGET // max(1, len(stations)))
    several_alarms, several_programs = _("Alarms"), _("Several programs")

    rows: list[TimelineRow] = []
    seen: dict[object, tuple[str, str, float]] = {}
    for station in stations:
        state_segs = _state_segments(pieces[station.pk], t_start, t_until, styles)
        alarm_segs, alarm_count = _alarm_segments(
            alarms.get(station.pk, ()), t_start, t_until, t_now
        )
        program_segs = _program_segments(programs.get(station.pk, ()), t_start, t_until, t_now)
        totals = _totals(state_segs)
        for key, (label, color, seconds) in totals.items():
            before = seen.get(key, (label, color, 0.0))
            seen[key] = (label, color, before[2] + seconds)
        states = _bars(_layout(state_segs, t_start, scale), t_start, scale)
        program_bars = _bars(
            _layout(program_segs, t_start, scale, several_programs), t_start, scale
        )
        program_bars = [
            _recolor(bar, PROGRAM_COLORS[i % len(PROGRAM_COLORS)])
            for i, bar in enumerate(program_bars)
        ]
        rows.append(
            TimelineRow(
                station=station,
                states=states,
                alarms=_bars(_layout(alarm_segs, t_start, scale, several_alarms), t_start, scale),
                programs=program_bars,
                summary=_row_summary(station, totals, alarm_count),
                time_format=time_format,
                detail_budget=detail_budget,
            )
        )

    legend = [
        LegendItem(label, color, STATE, marks.get(key) or bucket_of(buckets, key).value)
        for key, (label, color, _seconds) in sorted(seen.items(), key=lambda kv: -kv[1][2])
        if isinstance(key, int)  # a state's CWork id (None: no data)
    ]
    legend.append(LegendItem(_("No data"), NO_DATA_COLOR, NO_DATA, NO_STATE))
    legend.append(LegendItem(_("Alarm"), ALARM_COLOR, ALARM))
    legend.append(LegendItem(_("Program running"), PROGRAM_COLORS[0], PROGRAM))
    now_percent = 100.0 * (now - start).total_seconds() / span if span > 0 else None
    return Timeline(
        start=start,
        end=end,
        width=width,
        rows=rows,
        ticks=axis_ticks(start, end, width),
        until=until,
        now_percent=now_percent if now_percent is not None and 0 < now_percent < 100 else None,
        legend=legend,
    )


@dataclass(slots=True)
class _Seg:
    """A stretch of one lane, in epoch seconds (and user units once laid out)."""

    t0: float
    t1: float
    key: object
    label: str
    color: str
    comment: str = ""
    kind: str = STATE
    ongoing: bool = False
    mixed: bool = False
    x0: float = 0.0
    x1: float = 0.0
    mark: str = ""


def _append(segs: list[_Seg], seg: _Seg) -> None:
    """Adds ``seg``, merged into the previous one when it continues the same thing."""
    if segs:
        last = segs[-1]
        if last.key == seg.key and seg.t0 <= last.t1:
            last.t1 = max(last.t1, seg.t1)
            last.ongoing = seg.ongoing
            last.comment = _join_notes(last.comment, seg.comment)
            return
    segs.append(seg)


def _join_notes(first: str, second: str) -> str:
    if not second or second == first:
        return first
    if not first:
        return second
    notes = first.split(" · ")
    if second in notes:
        return first
    if len(notes) >= MAX_NOTES:
        return first if first.endswith("…") else first + " · …"
    return f"{first} · {second}"


def _state_segments(
    pieces: Iterable[StatePiece],
    t_start: float,
    t_until: float,
    styles: StateStyles,
    *,
    merge: bool = True,
) -> list[_Seg]:
    """The pieces cut to [start, until] with the holes as "no data" (an overlap: the earlier
    record wins); with ``merge``, a record that continues the same state joins its bar."""
    segs: list[_Seg] = []
    add = _append if merge else list.append
    cursor = t_start
    no_data = _("No data")
    for piece in pieces:
        t_end = piece.end.timestamp()
        t0, t1 = max(piece.start.timestamp(), cursor), min(t_end, t_until)
        if t1 <= t0:
            continue
        if t0 > cursor:
            add(segs, _Seg(cursor, t0, None, no_data, styles.no_data_color, kind=NO_DATA))
        name, color = styles.catalogue.get(piece.state_cwork_id) or (
            _("State %(id)s") % {"id": piece.state_cwork_id},
            styles.unknown_color,
        )
        ongoing = piece.ongoing and t_end <= t_until
        mark = styles.marks.get(piece.state_cwork_id) or Bucket.OWN_STOP.value
        add(
            segs,
            _Seg(
                t0, t1, piece.state_cwork_id, name, color, piece.comment, STATE, ongoing, mark=mark
            ),
        )
        cursor = t1
    if cursor < t_until:
        add(segs, _Seg(cursor, t_until, None, no_data, styles.no_data_color, kind=NO_DATA))
    return segs


def day_bars(
    pieces: Sequence[StatePiece],
    start: datetime,
    end: datetime,
    until: datetime,
    styles: StateStyles,
) -> list[Bar]:
    """One station's day for the station page, placed in percent of [start, end): from its
    first record to ``until`` (now), holes as "no data". Each record keeps its own bar,
    neither merged nor pooled, as the page lists them one by one with their comments."""
    if not pieces or end <= start:
        return []
    t_start = start.timestamp()
    scale = 100.0 / (end - start).total_seconds()
    first = max(pieces[0].start.timestamp(), t_start)
    segs = _state_segments(pieces, first, until.timestamp(), styles, merge=False)
    for seg in segs:
        seg.x0, seg.x1 = (seg.t0 - t_start) * scale, (seg.t1 - t_start) * scale
    return _bars(segs, t_start, scale, digits=None)


AlarmRow = tuple[datetime, datetime | None, str, str]
ProgramRow = tuple[datetime, datetime | None, str, str]


def _alarm_rows(ids: list[int], start: datetime, until: datetime) -> dict[int, list[AlarmRow]]:
    return _rows_by_station(
        AlarmInterval.objects.filter(station_id__in=ids), ids, start, until, "code", "message"
    )


def _program_rows(ids: list[int], start: datetime, until: datetime) -> dict[int, list[ProgramRow]]:
    running = ProgramRun.objects.filter(station_id__in=ids, kind=ProgramRun.Kind.RUNNING)
    return _rows_by_station(running, ids, start, until, "name", "context")


def _rows_by_station(
    rows: IntervalQuerySet[Any], ids: list[int], start: datetime, until: datetime, *texts: str
) -> dict[int, list[tuple[datetime, datetime | None, str, str]]]:
    """Each station's intervals over [start, until), in order: (start, end, and two texts)."""
    out: dict[int, list[tuple[datetime, datetime | None, str, str]]] = {}
    if until <= start or not ids:
        return out
    values = (
        rows.overlapping(start, until)
        .order_by("station_id", "start")
        .values_list("station_id", "start", "end", *texts)
    )
    for station_id, s, e, first, second in values.iterator(chunk_size=5000):
        out.setdefault(station_id, []).append((s, e, first, second))
    return out


def alarm_label(code: str, message: str) -> str:
    return f"{code} – {message}" if message else code


def _alarm_segments(
    rows: Iterable[AlarmRow], t_start: float, t_until: float, t_now: float
) -> tuple[list[_Seg], int]:
    """Alarms as one lane: alarms active together make one bar naming them all. An active
    alarm (no end) lasts until now."""
    segs: list[_Seg] = []
    count = 0
    for s, e, code, message in rows:
        t0 = max(s.timestamp(), t_start)
        t1 = t_until if e is None else min(e.timestamp(), t_until)
        if t1 <= t0:
            continue
        count += 1
        label = alarm_label(code, message)
        last = segs[-1] if segs else None
        if last is not None and t0 < last.t1:  # active together
            if label not in last.comment.split(" · ") and last.label != label:
                last.comment = _join_notes(last.comment, label)
            last.t1 = max(last.t1, t1)
            last.ongoing = last.ongoing or (e is None and t1 >= t_now)
            continue
        _append(
            segs,
            _Seg(t0, t1, label, label, ALARM_COLOR, "", ALARM, ongoing=e is None and t1 >= t_now),
        )
    for seg in segs:
        if seg.comment:  # several alarms at once: the lane names them all
            seg.label = f"{seg.label} · {seg.comment}"
            seg.key = seg.label
            seg.comment = ""
    return segs, count


def _program_segments(
    rows: Sequence[ProgramRow], t_start: float, t_until: float, t_now: float
) -> list[_Seg]:
    """Running programs; an open run lasts until the next one starts, or until now."""
    segs: list[_Seg] = []
    cursor = t_start
    for index, (s, e, name, context) in enumerate(rows):
        if e is None:
            following = rows[index + 1][0].timestamp() if index + 1 < len(rows) else t_until
            t_end = min(following, t_until)
        else:
            t_end = e.timestamp()
        t0, t1 = max(s.timestamp(), cursor), min(t_end, t_until)
        if t1 <= t0:
            continue
        ongoing = e is None and index + 1 == len(rows) and t1 >= t_now
        _append(segs, _Seg(t0, t1, name, name, PROGRAM_COLORS[0], context, PROGRAM, ongoing))
        cursor = t1
    return segs


#: The key of pooled columns in lanes where any record will do (alarms, programs).
POOLED = object()


def _layout(
    segs: Sequence[_Seg], t_start: float, scale: float, pooled_label: str | None = None
) -> list[_Seg]:
    """The lane's bars in user units: merged where they continue each other, and pooled
    per column where narrower than :data:`COLUMN` (one pass). States pool to the one that
    covers most of the column; with ``pooled_label`` (alarms, programs), pooled columns
    only say that something was there, so that they merge into long bars."""
    out: list[_Seg] = []
    col = -1
    weights: dict[object, float] = {}
    reps: dict[object, _Seg] = {}
    lo = hi = 0.0

    def emit(seg: _Seg) -> None:
        if out:
            last = out[-1]
            if last.key == seg.key and seg.x0 - last.x1 <= 1e-6:
                if last.label != seg.label and pooled_label is not None:
                    last.label, last.mixed, last.comment = pooled_label, False, ""
                last.x1, last.t1 = seg.x1, seg.t1
                last.mixed = last.mixed or seg.mixed
                last.ongoing = seg.ongoing
                last.comment = _join_notes(last.comment, seg.comment)
                return
        out.append(seg)

    def flush() -> None:
        best = max(weights, key=weights.__getitem__)
        rep = reps[best]
        label = rep.label
        if pooled_label is not None:
            label = rep.label if len(weights) == 1 else pooled_label
            best = POOLED
        x0 = max(col * COLUMN, lo, out[-1].x1 if out else 0.0)
        x1 = min((col + 1) * COLUMN, hi)
        if x1 > x0:
            emit(
                _Seg(
                    t_start + x0 / scale,
                    t_start + x1 / scale,
                    best,
                    label,
                    rep.color,
                    rep.comment,
                    rep.kind,
                    ongoing=rep.ongoing and rep.x1 <= x1 + 1e-9,
                    mixed=len(weights) > 1 and pooled_label is None,
                    x0=x0,
                    x1=x1,
                    mark=rep.mark,
                )
            )
        weights.clear()
        reps.clear()

    for seg in segs:
        x0, x1 = (seg.t0 - t_start) * scale, (seg.t1 - t_start) * scale
        if x1 - x0 >= COLUMN:
            if weights:
                if math.floor(x0 / COLUMN) == col:
                    # The wide bar's start votes in the pooled column, then starts after it.
                    edge = (col + 1) * COLUMN
                    weights[seg.key] = weights.get(seg.key, 0.0) + edge - x0
                    reps.setdefault(seg.key, _copy(seg, x0, edge))
                    hi = edge
                    flush()
                    x0 = edge
                else:
                    flush()
            if x1 > x0:
                emit(_copy(seg, x0, x1))
            continue
        first, last = math.floor(x0 / COLUMN), math.floor((x1 - 1e-9) / COLUMN)
        for c in range(first, max(first, last) + 1):
            if c != col:
                if weights:
                    flush()
                col, lo = c, max(x0, c * COLUMN)
            part_hi = min(x1, (c + 1) * COLUMN)
            weights[seg.key] = weights.get(seg.key, 0.0) + part_hi - max(x0, c * COLUMN)
            reps.setdefault(seg.key, _copy(seg, x0, x1))
            hi = part_hi
    if weights:
        flush()
    return out


def _copy(seg: _Seg, x0: float, x1: float) -> _Seg:
    return _Seg(
        seg.t0, seg.t1, seg.key, seg.label, seg.color, seg.comment, seg.kind, seg.ongoing,
        seg.mixed, x0, x1, seg.mark,
    )  # fmt: skip


def _bars(
    segs: Iterable[_Seg], t_start: float, scale: float, *, digits: int | None = 3
) -> list[Bar]:
    """The laid-out stretches as bars, positions rounded to ``digits`` (None: as they are)."""

    def rounded(value: float) -> float:
        return value if digits is None else round(value, digits)

    return [
        Bar(
            x=rounded(seg.x0),
            width=rounded(seg.x1 - seg.x0),
            color=seg.color,
            label=seg.label,
            start=datetime.fromtimestamp(seg.t0, UTC),
            end=datetime.fromtimestamp(seg.t1, UTC),
            comment=seg.comment,
            kind=seg.kind,
            known=seg.kind != NO_DATA,
            mixed=seg.mixed,
            ongoing=seg.ongoing,
            text_color=text_color(seg.color),
            mark=seg.mark,
        )
        for seg in segs
    ]


def _recolor(bar: Bar, color: str) -> Bar:
    return Bar(
        bar.x, bar.width, color, bar.label, bar.start, bar.end, bar.comment, bar.kind,
        bar.known, bar.mixed, bar.ongoing, text_color(color), bar.mark,
    )  # fmt: skip


def _totals(segs: Iterable[_Seg]) -> dict[object, tuple[str, str, float]]:
    """Seconds per state (and "no data"), longest first."""
    sums: dict[object, tuple[str, str, float]] = {}
    for seg in segs:
        label, color, seconds = sums.get(seg.key, (seg.label, seg.color, 0.0))
        sums[seg.key] = (label, color, seconds + seg.t1 - seg.t0)
    return dict(sorted(sums.items(), key=lambda kv: -kv[1][2]))


def _row_summary(
    station: Station, totals: dict[object, tuple[str, str, float]], alarm_count: int
) -> str:
    if totals:
        states = ", ".join(
            f"{label} {format_duration(timedelta(seconds=seconds))}"
            for label, _color, seconds in list(totals.values())[:4]
        )
    else:
        states = _("no data")
    alarms = ngettext("%(count)d alarm", "%(count)d alarms", alarm_count) % {"count": alarm_count}
    return _("%(station)s: %(states)s; %(alarms)s") % {
        "station": station.name,
        "states": states,
        "alarms": alarms,
    }
