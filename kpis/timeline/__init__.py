"""The shift review's timeline: each station's states, alarms and running programs over a
period, as bars ready to draw in one SVG row per station.

:mod:`.layout` lays the bars out from the stored intervals (and one station's day for the
station page, :func:`day_bars`), :mod:`.svg` draws them, :mod:`.axis` ticks the time under them.
"""

from kpis.timeline.axis import Tick, axis_ticks
from kpis.timeline.layout import (
    Bar,
    LegendItem,
    StateStyles,
    Timeline,
    TimelineRow,
    alarm_label,
    build_timeline,
    day_bars,
    state_styles,
)
from kpis.timeline.svg import NO_DATA_COLOR, PATTERNED, TIMELINE_WIDTH

__all__ = [
    "NO_DATA_COLOR",
    "PATTERNED",
    "TIMELINE_WIDTH",
    "Bar",
    "LegendItem",
    "StateStyles",
    "Tick",
    "Timeline",
    "TimelineRow",
    "alarm_label",
    "axis_ticks",
    "build_timeline",
    "day_bars",
    "state_styles",
]
