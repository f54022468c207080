"""The shift review's Paretos: where the stop time went (by state) and which CNC alarms cost
the most (by code), longest first, ready to draw as horizontal bars.

Stop time is counted the way the KPIs count it: cut at now, inside the stations' calendar
opening, each state taken to its bucket (:mod:`kpis.mapping`), so the Pareto adds up to the
stops the review's table shows. Alarms are CWork's records as they are: an alarm still
active lasts until now.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.colours import readable_text_color
from core.formatting import format_duration
from cwork.oee import Bucket
from kpis.calendar import Calendars, Span, opening
from kpis.intervals import StatePiece, state_pieces
from kpis.mapping import bucket_of, state_buckets
from kpis.timeline import alarm_label
from stations.models import AlarmInterval, State, Station

#: The buckets whose time is a stop.
STOP_BUCKETS = frozenset({Bucket.FAILURE, Bucket.OWN_STOP, Bucket.INDUCED_STOP})
#: Bars shown; the rest is one "Other" bar.
TOP = 10

UNKNOWN_COLOR = "#9e9e9e"
OTHER_COLOR = "#bdbdbd"
ALARM_COLOR = "#c62828"

# Drawing, in SVG user units (the viewBox is VIEW_WIDTH wide, scaled as a whole).
VIEW_WIDTH = 800
LABEL_END = 250
BAR_X = 258
BAR_AREA = 260
CUMULATIVE_X = 660
CUMULATIVE_WIDTH = 80
HEADER = 22
ROW = 28
BAR_HEIGHT = 18
#: The labels' font size, in user units (set on each label, so the fit below is the drawing's).
LABEL_SIZE = 12
#: Room for a label, ending at LABEL_END: a longer one is cut with "…" (its bar's hover text
#: has it whole). It starts at the viewBox's left edge at the earliest, on screen and printed.
LABEL_WIDTH = LABEL_END - 4

#: Advance widths of printable ASCII (" " to "~"), in thousandths of an em: the wider of
#: DejaVu Sans and Liberation Sans (metric twin of Arial), so a label measured with them fits
#: in the common sans-serif faces. Other characters count as their base letter ("é" as "e"),
#: or as a whole em.
ASCII_WIDTHS = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337,
    636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 556,
    1015, 684, 686, 722, 770, 667, 611, 778, 752, 295, 500, 667, 557, 863, 748, 787,
    667, 787, 722, 667, 611, 732, 684, 989, 685, 667, 685, 390, 337, 390, 838, 556,
    500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,
    635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
)  # fmt: skip
ELLIPSIS = "…"


def char_width(char: str) -> int:
    """``char``'s advance width in thousandths of an em (see :data:`ASCII_WIDTHS`)."""
    if unicodedata.category(char) in ("Mn", "Me", "Cf", "Cc"):
        return 0  # accents drawn over the previous letter, invisible controls
    code = ord(unicodedata.normalize("NFD", char)[0])
    return ASCII_WIDTHS[code - 32] if 32 <= code < 127 else 1000


def text_width(text: str, size: float = LABEL_SIZE) -> float:
    """``text``'s width at font size ``size``, in the same units as ``size``."""
    return sum(char_width(c) for c in text) * size / 1000


def fit_text(text: str, width: float = LABEL_WIDTH, size: float = LABEL_SIZE) -> str:
    """``text`` whole if it fits ``width`` at ``size``; otherwise its start and "…"."""
    if text_width(text, size) <= width:
        return text
    budget = width * 1000 / size - char_width(ELLIPSIS)
    used = 0
    for end, char in enumerate(text):
        used += char_width(char)
        if used > budget:
            return text[:end].rstrip() + ELLIPSIS
    return text  # pragma: no cover - the whole text fitted


@dataclass(frozen=True, slots=True)
class ParetoBar:
    label: str
    color: str
    #: Seconds.
    value: float
    count: int | None
    #: Of the total, and up to this bar included (fractions 0..1).
    share: float
    cumulative: float
    #: The "Other" bar gathering everything after the top ones.
    other: bool = False
    #: Drawing: the bar's top and length, in user units.
    y: float = 0.0
    length: float = 0.0
    text_color: str = "#000000"

    @property
    def value_text(self) -> str:
        return format_duration(timedelta(seconds=self.value))

    @property
    def count_text(self) -> str:
        if self.count is None:
            return ""
        return ngettext("%(count)d time", "%(count)d times", self.count) % {"count": self.count}

    @property
    def short_label(self) -> str:
        """The label as drawn: cut with "…" when it would not fit left of the bars."""
        return fit_text(self.label)

    @property
    def share_percent(self) -> float:
        return 100.0 * self.share

    @property
    def cumulative_percent(self) -> float:
        return 100.0 * self.cumulative

    # Positions the template needs (it cannot add floats).
    @property
    def text_y(self) -> float:
        return self.y + BAR_HEIGHT / 2

    @property
    def value_x(self) -> float:
        return BAR_X + self.length + 6

    @property
    def cumulative_x(self) -> float:
        return CUMULATIVE_X + self.cumulative * CUMULATIVE_WIDTH


@dataclass(frozen=True, slots=True)
class Pareto:
    title: str
    bars: list[ParetoBar]
    #: Seconds, all bars included.
    total: float
    #: What the fragment says when there is nothing to show.
    empty_text: str = ""

    @property
    def total_text(self) -> str:
        return format_duration(timedelta(seconds=self.total))

    @property
    def height(self) -> int:
        return HEADER + ROW * len(self.bars)

    @property
    def cumulative_points(self) -> str:
        """The cumulative line through the bars' middles, as SVG ``points``."""
        points: list[tuple[float, float]] = [(CUMULATIVE_X, HEADER - 2)]
        points.extend((bar.cumulative_x, bar.text_y) for bar in self.bars)
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)

    @property
    def summary(self) -> str:
        """The chart in words, for screen readers."""
        if not self.bars:
            return f"{self.title}: {self.empty_text}"
        parts = [
            _("%(label)s %(value)s (%(share)d %%)")
            % {"label": bar.label, "value": bar.value_text, "share": round(bar.share_percent)}
            for bar in self.bars
        ]
        return _("%(title)s, total %(total)s: %(bars)s") % {
            "title": self.title,
            "total": self.total_text,
            "bars": "; ".join(parts),
        }

    # Geometry for the template.
    view_width = VIEW_WIDTH
    label_end = LABEL_END
    label_size = LABEL_SIZE
    bar_x = BAR_X
    bar_height = BAR_HEIGHT
    cumulative_start = CUMULATIVE_X
    cumulative_end = CUMULATIVE_X + CUMULATIVE_WIDTH
    header = HEADER


@dataclass(slots=True)
class _Entry:
    label: str
    color: str
    value: float = 0.0
    count: int | None = None


def stop_pareto(
    stations: Sequence[Station],
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    pieces: dict[int, list[StatePiece]] | None = None,
) -> Pareto:
    """Stop time per state (failures, own and induced stops) inside the period, cut at now,
    and inside each station's calendar opening; longest first."""
    title = _("Stop time by state")
    empty = _("No stops in this period")
    until = max(start, min(end, now))
    if until <= start or not stations:
        return Pareto(title, [], 0.0, empty)
    buckets = state_buckets()
    calendars = Calendars()
    catalogue = {
        cwork_id: (name, color)
        for cwork_id, name, color in State.objects.values_list("cwork_id", "name", "color")
    }
    if pieces is None:
        pieces = state_pieces([s.pk for s in stations], start, until, now)
    opens_by_workshop: dict[str, list[Span]] = {}
    entries: dict[int, _Entry] = {}
    for station in stations:
        if station.workshop not in opens_by_workshop:
            spec = calendars.for_workshop(station.workshop)
            opens_by_workshop[station.workshop] = opening(spec, start, until)[0]
        opens = opens_by_workshop[station.workshop]
        ends = [e for _s, e in opens]
        cursor = start
        for piece in pieces[station.pk]:
            s, e = max(piece.start, start, cursor), min(piece.end, until)
            if e <= s:
                continue
            cursor = e  # overlapping records: the earlier one wins
            if bucket_of(buckets, piece.state_cwork_id) not in STOP_BUCKETS:
                continue
            seconds = _inside(s, e, opens, ends)
            if seconds <= 0:
                continue
            entry = entries.get(piece.state_cwork_id)
            if entry is None:
                name, color = catalogue.get(piece.state_cwork_id) or ("", "")
                entry = entries[piece.state_cwork_id] = _Entry(
                    name or _("State %(id)s") % {"id": piece.state_cwork_id},
                    color or UNKNOWN_COLOR,
                )
            entry.value += seconds
    return _pareto(title, entries.values(), empty, other_label=_("Other states (%(count)d)"))


def _inside(s: datetime, e: datetime, spans: list[Span], ends: list[datetime]) -> float:
    """Seconds of [s, e) inside the sorted, disjoint ``spans``."""
    total = 0.0
    i = bisect_right(ends, s)
    while i < len(spans) and spans[i][0] < e:
        a, b = max(s, spans[i][0]), min(e, spans[i][1])
        if b > a:
            total += (b - a).total_seconds()
        i += 1
    return total


def alarm_pareto(
    stations: Sequence[Station], start: datetime, end: datetime, *, now: datetime
) -> Pareto:
    """CNC alarms by code: how many occurred in the period, and how long they lasted inside
    it (an active alarm lasts until now); longest first."""
    title = _("CNC alarms by code")
    empty = _("No alarms in this period")
    until = max(start, min(end, now))
    ids = [s.pk for s in stations]
    if until <= start or not ids:
        return Pareto(title, [], 0.0, empty)
    rows = (
        AlarmInterval.objects.filter(station_id__in=ids)
        .overlapping(start, until)
        .order_by("start")
        .values_list("code", "message", "start", "end")
    )
    entries: dict[str, _Entry] = {}
    messages: dict[str, str] = {}
    for code, message, s, e in rows.iterator(chunk_size=5000):
        entry = entries.get(code)
        if entry is None:
            entry = entries[code] = _Entry(code, ALARM_COLOR, count=0)
        if message:
            messages[code] = message  # the newest wording
        a, b = max(s, start), min(e or now, until)
        if b > a:
            # Every occurrence with time in the period counts once, one that began before it
            # too: counting only those starting inside showed "36 min · 0 times".
            entry.count = (entry.count or 0) + 1
            entry.value += (b - a).total_seconds()
    for code, entry in entries.items():
        entry.label = alarm_label(code, messages.get(code, ""))
    kept = [x for x in entries.values() if x.value > 0 or x.count]
    return _pareto(title, kept, empty, other_label=_("Other alarms (%(count)d)"))


def _pareto(title: str, entries: Iterable[_Entry], empty: str, *, other_label: str) -> Pareto:
    """Sorted longest first (then most frequent), the top ones and "Other", with shares."""
    ordered = sorted(entries, key=lambda x: (-x.value, -(x.count or 0), x.label))
    total = sum(x.value for x in ordered)
    if not ordered:
        return Pareto(title, [], 0.0, empty)
    shown = ordered[:TOP]
    rest = ordered[TOP:]
    if rest:
        counts = [x.count for x in rest if x.count is not None]
        shown.append(
            _Entry(
                other_label % {"count": len(rest)},
                OTHER_COLOR,
                sum(x.value for x in rest),
                None if len(counts) < len(rest) else sum(counts),
            )
        )
    longest = max((x.value for x in shown), default=0.0)
    bars = []
    running = 0.0
    for index, entry in enumerate(shown):
        running += entry.value
        bars.append(
            ParetoBar(
                label=entry.label,
                color=entry.color,
                value=entry.value,
                count=entry.count,
                share=entry.value / total if total else 0.0,
                cumulative=running / total if total else 0.0,
                other=bool(rest) and index == len(shown) - 1,
                y=HEADER + ROW * index + (ROW - BAR_HEIGHT) / 2,
                length=BAR_AREA * entry.value / longest if longest else 0.0,
                text_color=readable_text_color(entry.color),
            )
        )
    return Pareto(title, bars, total, empty)


__all__ = ["Pareto", "ParetoBar", "alarm_pareto", "stop_pareto"]
