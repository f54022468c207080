"""Reads for the pages: what a screen shows about each station, in one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models

from stations.models import LiveStatus, Station

if TYPE_CHECKING:
    from kpis.current import ShiftFigures


@dataclass(frozen=True, slots=True)
class Pace:
    """Parts made against the target, and how many the cycle time says should be made by now."""

    made: int
    target: int
    #: None when the count's start is unknown (a station first seen mid-job).
    expected: int | None

    @property
    def made_percent(self) -> float:
        return min(100.0, 100.0 * self.made / self.target)

    @property
    def expected_percent(self) -> float | None:
        return None if self.expected is None else min(100.0, 100.0 * self.expected / self.target)

    @property
    def behind(self) -> bool:
        """More than one cycle behind what the cycle time allows."""
        return self.expected is not None and self.made < self.expected - 1


@dataclass(frozen=True, slots=True)
class Tile:
    station: Station
    live: LiveStatus | None
    state_name: str
    color: str
    text_color: str
    #: CWork leaves the station out of its answers, or all data is stale.
    reporting: bool
    pace: Pace | None
    #: The running shift's figures (``kpis.current``); None when no shift runs.
    shift: ShiftFigures | None = None

    @property
    def alarm_count(self) -> int:
        return len(self.live.alarms) if self.live else 0

    @property
    def first_alarm(self) -> list[str] | None:
        return self.live.alarms[0] if self.live and self.live.alarms else None


def pace_of(live: LiveStatus | None, now: datetime) -> Pace | None:
    if live is None or not live.part_target or live.parts_since_reset is None:
        return None
    expected = None
    if live.counting_since and live.job_cycle_time:
        elapsed = (now - live.counting_since).total_seconds()
        expected = min(live.part_target, max(0, int(elapsed // live.job_cycle_time)))
    return Pace(made=live.parts_since_reset, target=live.part_target, expected=expected)


def tile_for(
    station: Station, *, stale: bool, now: datetime, shift: ShiftFigures | None = None
) -> Tile:
    """One station's tile; ``station`` comes with ``live`` and ``live.state`` selected.
    ``shift``: its figures from the last refresh, dropped once that shift has ended."""
    live = getattr(station, "live", None)
    state = live.state if live else None
    color = (state.color if state else "") or NEUTRAL
    return Tile(
        station=station,
        live=live,
        state_name=state.name if state else "",
        color=color,
        text_color=readable_text_color(color),
        reporting=bool(live and live.missing_since is None and not stale),
        pace=pace_of(live, now),
        shift=shift if shift is not None and shift.end > now else None,
    )


def tile_stations() -> models.QuerySet[Station]:
    """The stations a screen shows, with what their tiles need, in one query."""
    return (
        Station.objects.filter(present_in_cwork=True)
        .select_related("live", "live__state")
        .order_by("workshop", "name")
    )


def readable_text_color(background: str) -> str:
    """Black or white, whichever contrasts more with ``background`` (WCAG luminance)."""
    try:
        r, g, b = (int(background[i : i + 2], 16) / 255 for i in (1, 3, 5))
    except (ValueError, IndexError):
        return "#ffffff"

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    # Contrast with black (L + 0.05) / 0.05 against white 1.05 / (L + 0.05).
    return "#000000" if (luminance + 0.05) ** 2 > 0.0525 else "#ffffff"


NEUTRAL = "#4b5563"
