"""The wall's tiles: what a screen shows about each station, in one query, its bucket from the
shop's mapping (``kpis.mapping``, the one rule)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models
from django.utils.functional import Promise

from core.colours import readable_text_color, state_color
from cwork.oee import Bucket
from kpis.mapping import NO_STATE, NOT_REPORTING_LABEL, cached_bucket_of, mark_label
from stations.live_alarms import LiveAlarm
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
    #: The norm's bucket of the state shown (the shop's mapping); None without a state.
    bucket: Bucket | None = None
    #: The live status's active alarms, in CWork's order (``LiveStatus.active_alarms``).
    alarms: tuple[LiveAlarm, ...] = ()

    @property
    def mark(self) -> str:
        """The icon that says the bucket without colour (``mark-<this>`` in marks.css):
        a station CWork leaves out of its answers, or without a state, has its own."""
        if self.bucket is None or self.live is None or self.live.missing_since is not None:
            return NO_STATE
        return self.bucket.value

    @property
    def mark_label(self) -> Promise:
        """The mark's name for screen readers, in the page's language."""
        if self.live is None or self.live.missing_since is not None:
            return NOT_REPORTING_LABEL
        return mark_label(self.mark)

    @property
    def name_parts(self) -> tuple[str, str]:
        """The name as (head, tail): a tile too narrow for it cuts the head, never the tail."""
        return split_name(self.station.name)

    @property
    def alarm_count(self) -> int:
        return len(self.alarms)

    @property
    def first_alarm(self) -> LiveAlarm | None:
        return self.alarms[0] if self.alarms else None


#: Where a name's distinctive end starts: "Okuma LB3000-01", "Lathe 12", "Cell_3".
NAME_SEPARATORS = " -_/.#"
#: A tail longer than this is no short distinctive end: the name's last characters are kept.
LONGEST_TAIL = 8
SHORT_TAIL = 4


def split_name(name: str) -> tuple[str, str]:
    """``name`` as (head, tail), the tail being what tells similar names apart: machines of one
    family share their model and differ by the number at the end ("Okuma LB3000-01",
    "Okuma LB3000-02"), so a cut in the middle keeps them apart where a cut at the end
    leaves "Okuma LB3000-…" on each."""
    at = max(name.rfind(sep) for sep in NAME_SEPARATORS)
    if at <= 0 or len(name) - at > LONGEST_TAIL + 1:
        at = max(0, len(name) - SHORT_TAIL)
    return name[:at], name[at:]


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
    color = state_color(state.color if state else "")
    return Tile(
        station=station,
        live=live,
        state_name=state.name if state else "",
        color=color,
        text_color=readable_text_color(color),
        reporting=bool(live and live.missing_since is None and not stale),
        pace=pace_of(live, now),
        shift=shift if shift is not None and shift.end > now else None,
        bucket=cached_bucket_of(state.cwork_id) if state else None,
        alarms=live.active_alarms() if live else (),
    )


def tile_stations() -> models.QuerySet[Station]:
    """The stations a screen shows, with what their tiles need, in one query."""
    return (
        Station.objects.filter(present_in_cwork=True)
        .select_related("live", "live__state")
        .order_by("workshop", "name")
    )
