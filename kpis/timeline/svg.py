"""The timeline drawn: a row's bars as SVG, written here rather than by a template loop (a
long period draws tens of thousands of them, which the template engine renders too slowly
for a TV), and the colours, lanes and patterns the drawing and its template share.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from html import escape
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from core.colours import readable_text_color

if TYPE_CHECKING:
    from kpis.timeline.layout import Bar

#: The drawing's width in SVG user units.
TIMELINE_WIDTH = 1600.0
#: Alarm and program bars are drawn at least this wide, or a short one would not show.
MIN_VISIBLE = 1.0

NO_DATA_COLOR = "#e0e0e0"
UNKNOWN_STATE_COLOR = "#9e9e9e"
ALARM_COLOR = "#d32f2f"
PROGRAM_COLORS = ("#1565c0", "#64b5f6")
#: The hatch "no data" is filled with (defined once by the template).
HATCH_ID = "kpis-tl-hatch"
#: The pattern laid over each bucket's bars (``<id>-<bucket>``, defined by the template);
#: production has none, so the bars that matter most stay plain.
PATTERN_ID = "kpis-tl-pat"
PATTERNED = frozenset({"own_stop", "failure", "induced_stop", "disengaged"})

#: Lanes inside a row's viewBox, as (y, height).
STATE_LANE = (0, 20)
ALARM_LANE = (22, 5)
PROGRAM_LANE = (29, 5)
ROW_HEIGHT = 34

#: What a bar is, as its class (``tl-<kind>``).
STATE, NO_DATA, ALARM, PROGRAM = "state", "nodata", "alarm", "program"


def row_markup(
    states: Sequence[Bar],
    alarms: Sequence[Bar],
    programs: Sequence[Bar],
    *,
    time_format: str,
    detail_budget: int,
) -> SafeString:
    """A row's rectangles (the template writes the ``<svg>`` around them): the widest
    ``detail_budget`` bars with their own details, the rest as one path per state."""
    now_text = _("now")
    mostly = _("Mostly %(label)s")
    lanes = (
        (states, STATE_LANE, 0.0, None),
        (alarms, ALARM_LANE, MIN_VISIBLE, _("Alarms")),
        (programs, PROGRAM_LANE, MIN_VISIBLE, _("Programs running")),
    )
    count = len(states) + len(alarms) + len(programs)
    chosen: set[int] | None = None
    if count > detail_budget:
        everything = [b for bars, *_rest in lanes for b in bars]
        widest = heapq.nlargest(detail_budget, everything, key=lambda b: b.width)
        chosen = {id(b) for b in widest}
    parts: list[str] = []
    for bars, (y, h), minimum, lane_label in lanes:
        if chosen is None:
            parts.extend(_rects(bars, y, h, minimum, time_format, now_text, mostly))
        else:
            detailed = [b for b in bars if id(b) in chosen]
            rest = [b for b in bars if id(b) not in chosen]
            parts.extend(_rects(detailed, y, h, minimum, time_format, now_text, mostly))
            parts.extend(_paths(rest, y, h, minimum, lane_label))
        if bars is states:
            parts.extend(_patterns(bars, y, h))
    return mark_safe("".join(parts))  # noqa: S308 - every text is escaped


_TEXT_COLORS: dict[str, str] = {}


def text_color(color: str) -> str:
    """The text colour readable on ``color``, worked out once per colour."""
    found = _TEXT_COLORS.get(color)
    if found is None:
        found = _TEXT_COLORS[color] = readable_text_color(color)
    return found


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _rects(
    bars: Iterable[Bar],
    y: int,
    h: int,
    minimum: float,
    time_format: str,
    now_text: str,
    mostly: str,
) -> Iterator[str]:
    localtime = timezone.localtime
    for bar in bars:
        start = localtime(bar.start).strftime(time_format)
        end = now_text if bar.ongoing else localtime(bar.end).strftime(time_format)
        label = mostly % {"label": bar.label} if bar.mixed else bar.label
        duration = bar.duration_text
        title = f"{label}\n{start} – {end} ({duration})"
        comment = ""
        if bar.comment:
            title += f"\n{bar.comment}"
            comment = f' data-comment="{escape(bar.comment)}"'
        fill = f"url(#{HATCH_ID}) {NO_DATA_COLOR}" if bar.kind == NO_DATA else bar.color
        yield (
            f'<rect x="{_num(bar.x)}" y="{y}" width="{_num(max(bar.width, minimum))}" '
            f'height="{h}" fill="{escape(fill)}" class="tl-{bar.kind}" '
            f'data-state="{escape(label)}" data-start="{escape(start)}" '
            f'data-end="{escape(end)}" data-duration="{escape(duration)}"{comment}>'
            f"<title>{escape(title, quote=False)}</title></rect>"
        )


def _paths(
    bars: Iterable[Bar], y: int, h: int, minimum: float, lane_label: str | None
) -> Iterator[str]:
    """Bars without details of their own, as one stroked path per colour and label (per
    colour under ``lane_label`` for alarms and programs): a few bytes a bar."""
    groups: dict[tuple[str, str, str], tuple[list[str], list[float]]] = {}
    middle = _num(y + h / 2)
    for bar in bars:
        w = max(bar.width, minimum)
        if w < 0.05:
            continue
        key = (bar.color, lane_label or bar.label, bar.kind)
        shapes, end = groups.setdefault(key, ([], [0.0]))
        if shapes:
            shapes.append(f"m{_short(bar.x - end[0])} 0h{_short(w)}")
        else:
            shapes.append(f"M{_short(bar.x)} {middle}h{_short(w)}")
        end[0] = bar.x + w
    for (color, label, kind), (shapes, _end) in groups.items():
        paint = f"url(#{HATCH_ID}) {NO_DATA_COLOR}" if kind == NO_DATA else color
        yield (
            f'<path d="{"".join(shapes)}" stroke="{escape(paint)}" stroke-width="{h}" '
            f'fill="none" class="tl-{kind}" data-state="{escape(label)}" data-pooled="1">'
            f"<title>{escape(label, quote=False)}</title></path>"
        )


def _patterns(bars: Iterable[Bar], y: int, h: int) -> Iterator[str]:
    """Each bucket's pattern over its bars: one stroked path per bucket and row (bars of one
    bucket that touch are one stretch), so colour is not the only signal at a cost of a few
    bytes a bar. Pointer events go through to the bars below."""
    groups: dict[str, list[list[float]]] = {}
    for bar in bars:
        if bar.mark not in PATTERNED or bar.width < 0.05:
            continue
        spans = groups.setdefault(bar.mark, [])
        if spans and bar.x - spans[-1][1] <= 1e-6:
            spans[-1][1] = bar.x + bar.width
        else:
            spans.append([bar.x, bar.x + bar.width])
    middle = _num(y + h / 2)
    for mark, spans in groups.items():
        shapes: list[str] = []
        end = 0.0
        for x0, x1 in spans:
            move = f"M{_short(x0)} {middle}" if not shapes else f"m{_short(x0 - end)} 0"
            shapes.append(f"{move}h{_short(x1 - x0)}")
            end = x1
        yield (
            f'<path d="{"".join(shapes)}" stroke="url(#{PATTERN_ID}-{mark})" stroke-width="{h}" '
            f'fill="none" class="tl-pat" pointer-events="none"/>'
        )


def _short(value: float) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
