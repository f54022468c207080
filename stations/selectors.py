"""Reads for the pages: what a screen shows about each station, in one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from stations.health import IngestHealth, ingest_health
from stations.models import LiveStatus, Station


@dataclass(frozen=True, slots=True)
class Tile:
    station: Station
    live: LiveStatus | None
    state_name: str
    color: str
    text_color: str
    #: CWork leaves the station out of its answers, or all data is stale.
    reporting: bool

    @property
    def alarm_count(self) -> int:
        return len(self.live.alarms) if self.live else 0

    @property
    def first_alarm(self) -> list[str] | None:
        return self.live.alarms[0] if self.live and self.live.alarms else None


@dataclass(frozen=True, slots=True)
class Board:
    tiles: list[Tile]
    health: IngestHealth
    now: datetime


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


def station_board(now: datetime | None = None) -> Board:
    now = now or timezone.now()
    health = ingest_health(now)
    stations = (
        Station.objects.filter(present_in_cwork=True)
        .select_related("live", "live__state")
        .order_by("workshop", "name")
    )
    tiles = []
    for station in stations:
        live = getattr(station, "live", None)
        state = live.state if live else None
        color = (state.color if state else "") or NEUTRAL
        tiles.append(
            Tile(
                station=station,
                live=live,
                state_name=state.name if state else "",
                color=color,
                text_color=readable_text_color(color),
                reporting=bool(live and live.missing_since is None and not health.stale),
            )
        )
    return Board(tiles=tiles, health=health, now=now)
