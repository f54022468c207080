"""The overview: every station, the most urgent first, searchable.

Plain functions over the stored data, given ``now``: the views only adapt them to HTTP. A
station's severity is its tile's bucket (the shop's mapping), so the list groups a station
where its tile's mark, the KPIs and the alerts put it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy

from core.formatting import format_duration
from cwork import oee
from dashboard.tiles import Tile, tile_for, tile_stations
from stations.health import ingest_health
from stations.models import LiveStatus, Station

# ----------------------------------------------------------------------------------------
# Severity: which stations need someone first
# ----------------------------------------------------------------------------------------


class Severity(IntEnum):
    """How urgently a station needs attention, from its state's bucket (lower first): by
    default from its OEE category (the comments below), else as the shop maps it."""

    BREAKDOWN = 0  # a failure: Breakdown or one of its children
    STOPPED = 1  # induced stops: waiting, no material, no operator
    SETUP = 2  # the machine's own stops that are not failures: setting, tool change
    PRODUCTION = 3
    OFF = 4  # disengaged (breaks, nights, preventive maintenance) or disabled in CWork
    UNKNOWN = 5  # no state known yet

    @property
    def label(self) -> str:
        return str(SEVERITY_LABELS[self])


SEVERITY_LABELS = {
    Severity.BREAKDOWN: gettext_lazy("Breakdown"),
    Severity.STOPPED: gettext_lazy("Stopped"),
    Severity.SETUP: gettext_lazy("Set-up"),
    Severity.PRODUCTION: gettext_lazy("Producing"),
    Severity.OFF: gettext_lazy("Off"),
    Severity.UNKNOWN: gettext_lazy("Unknown"),
}

_SEVERITY_OF_BUCKET = {
    oee.Bucket.FAILURE: Severity.BREAKDOWN,
    oee.Bucket.INDUCED_STOP: Severity.STOPPED,
    oee.Bucket.OWN_STOP: Severity.SETUP,
    oee.Bucket.PRODUCTION: Severity.PRODUCTION,
    oee.Bucket.DISENGAGED: Severity.OFF,
}


def severity_of(tile: Tile) -> Severity:
    """The tile's severity: from the bucket it shows, the shop's mapping (``kpis.mapping``),
    so the overview, the station page and the tile never disagree; a station disabled in
    CWork is off whatever its state."""
    if tile.station.disabled:
        return Severity.OFF
    if tile.bucket is None:
        return Severity.UNKNOWN
    return _SEVERITY_OF_BUCKET[tile.bucket]


# ----------------------------------------------------------------------------------------
# The overview: every station, most urgent first, searchable
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OverviewRow:
    tile: Tile
    severity: Severity
    #: Time in the current state as of the list's ``now``, as the page's ticking clocks
    #: write it (they take over within a second).
    in_state_for: str = ""

    @property
    def station(self) -> Station:
        return self.tile.station

    @property
    def live(self) -> LiveStatus | None:
        return self.tile.live


def _folded(text: str) -> str:
    """Lower case without accents, so that ``cote`` finds ``Côté``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search_fields(tile: Tile) -> list[str]:
    """What a search looks through: name, workshop, groups, order, job, programs, state."""
    station, live = tile.station, tile.live
    parts = [station.name, station.workshop, station.dnc_group, tile.state_name]
    parts += [str(g) for g in station.mdc_groups or []]
    if live is not None:
        parts += [live.order, live.job, live.reference, live.running_program]
        parts.append(live.selected_program)
    return [_folded(p) for p in parts if p]


#: Query words shorter than this must be a whole word of the station's text ("A" of
#: "Building A", "03" of "LB3000-03"); longer ones may be anywhere in it ("7909" of "PGM7909").
ANYWHERE_FROM = 3


def matches_words(fields: list[str], words: list[str]) -> bool:
    """Every word is found somewhere in the fields (not necessarily in the same one)."""
    text = "\n".join(fields)
    tokens = set(re.findall(r"\w+", text))
    return all(word in text if len(word) >= ANYWHERE_FROM else word in tokens for word in words)


def search(tiles: Iterable[Tile], query: str) -> list[Tile]:
    """The tiles a search finds, in their order.

    Several words that one field holds as they were typed ("Building A", "Tool change") find
    the stations whose field holds them; when no field does, every word must be found
    somewhere ("okuma 03": the Okuma whose name ends in "-03").
    """
    words = _folded(query).split()
    if not words:
        return list(tiles)
    indexed = [(tile, search_fields(tile)) for tile in tiles]
    if len(words) > 1:
        phrase = " ".join(words)
        found = [t for t, fields in indexed if any(phrase in " ".join(f.split()) for f in fields)]
        if found:
            return found
    return [t for t, fields in indexed if matches_words(fields, words)]


def station_overview(
    query: str, now: datetime, visible: QuerySet[Station] | None = None
) -> list[OverviewRow]:
    """Stations matching ``query``: breakdowns first, then stops, set-ups, production, off.

    Within a severity the station longest in its state comes first (it has waited longest),
    then by name; stations with no known state go last. ``visible`` (the user's stations)
    limits the list; None lists every station.
    """
    health = ingest_health(now)
    stations = tile_stations()
    if visible is not None:
        stations = stations.filter(pk__in=visible.values("pk"))
    tiles = [tile_for(station, stale=health.stale, now=now) for station in stations]
    rows = [
        OverviewRow(
            tile,
            severity_of(tile),
            format_duration(now - tile.live.since) if tile.live and tile.live.since else "",
        )
        for tile in search(tiles, query)
    ]
    rows.sort(key=_overview_order)
    return rows


def _overview_order(row: OverviewRow) -> tuple[int, datetime, str, int]:
    since = row.live.since if row.live and row.live.since else datetime.max.replace(tzinfo=UTC)
    return (row.severity, since, row.station.name.casefold(), row.station.pk)
