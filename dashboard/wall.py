"""The wall: which stations a screen shows, its groups, and the fan-out of a poll's changes.

Each changed tile is rendered once per poll cycle, then sent as one message per group. Groups
follow the stations' own attributes (all, workshop, MDC group, DNC group), so no registry of
open screens is needed: a screen joins the group of one of its filters and htmx ignores tiles
it does not show. Every open wall also gets a small heartbeat after each successful poll: it is
how a screen tells "nothing changed" from "no news", and shows stale data as stale. The
groups' names, the messages and their sending are the socket protocol's (``core.realtime``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from core import realtime
from core.memo import Memo
from dashboard.languages import languages_in_use
from dashboard.tiles import Tile, tile_for, tile_stations
from kpis.current import KPI_FIELD, cached_figures, current_generation
from screens.models import Screen
from stations.events import StationsChanged
from stations.health import IngestHealth, ingest_health, stale_after
from stations.models import Station

ALL_GROUP = realtime.WALL_ALL_GROUP
#: Daphne closes a socket that is sent a message over 1 MiB: tiles are sent in messages of at
#: most this many (a tile is under 1 KB, a few KB with long alarm texts).
TILES_PER_FRAME = 150


#: The filters a wall's URL may hold.
URL_FIELDS = ("workshop", "mdc_group", "dnc_group")


@dataclass(frozen=True, slots=True)
class WallFilter:
    """Which stations a wall shows; blank means all. Kept in the wall's URL, except
    ``stations``: the ids a limited user may see (None: no limit), never from the URL."""

    workshop: str = ""
    mdc_group: str = ""
    dnc_group: str = ""
    stations: frozenset[int] | None = None

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, str], *, stations: frozenset[int] | None = None
    ) -> WallFilter:
        values = {name: str(data.get(name, "")).strip()[:200] for name in URL_FIELDS}
        return cls(**values, stations=stations)

    def allows(self, station_id: int) -> bool:
        return self.stations is None or station_id in self.stations

    def matches(self, station: Station) -> bool:
        return (
            self.allows(station.pk)
            and (not self.workshop or station.workshop == self.workshop)
            and (not self.dnc_group or station.dnc_group == self.dnc_group)
            and (not self.mdc_group or self.mdc_group in (station.mdc_groups or []))
        )

    def group(self) -> str:
        """The group whose messages cover every station this wall shows."""
        if self.workshop:
            return realtime.wall_group("workshop", self.workshop)
        if self.mdc_group:
            return realtime.wall_group("mdc", self.mdc_group)
        if self.dnc_group:
            return realtime.wall_group("dnc", self.dnc_group)
        return ALL_GROUP

    def query(self) -> str:
        return urlencode({k: getattr(self, k) for k in URL_FIELDS if getattr(self, k)})

    def label(self) -> str:
        return " · ".join(v for v in (self.workshop, self.mdc_group, self.dnc_group) if v)


def groups_of(station: Station) -> set[str]:
    found = {ALL_GROUP}
    if station.workshop:
        found.add(realtime.wall_group("workshop", station.workshop))
    if station.dnc_group:
        found.add(realtime.wall_group("dnc", station.dnc_group))
    found.update(realtime.wall_group("mdc", group) for group in station.mdc_groups or [] if group)
    return found


def wall_groups() -> set[str]:
    """Every group a wall can be in, from the stations' current attributes (cached briefly:
    it changes only with CWork's catalogue)."""
    return _groups.get(_present_groups)


def _present_groups() -> set[str]:
    groups = {ALL_GROUP}
    for station in (
        Station.objects.filter(present_in_cwork=True)
        .order_by()
        .only("workshop", "dnc_group", "mdc_groups")
    ):
        groups |= groups_of(station)
    return groups


_groups: Memo[set[str]] = Memo("dashboard.wall.groups", ttl=60)


def wall_tiles(wall_filter: WallFilter, now: datetime) -> list[Tile]:
    """The tiles as CWork last reported them. Whether that report is stale is the page's to
    show (it dims every tile until heartbeats return), never baked into a tile: a tile sent
    during an outage would otherwise stay "not reporting" after CWork is back."""
    figures = cached_figures() or {}
    return [
        tile_for(station, stale=False, now=now, shift=figures.get(station.pk))
        for station in tile_stations()
        if wall_filter.matches(station)
    ]


def render_tile(tile: Tile, *, oob: bool, kiosk: bool = False) -> str:
    return render_to_string("wall/_tile.html", {"tile": tile, "oob": oob, "kiosk": kiosk})


def kiosk_tile(tile: Tile, html: str) -> str:
    """A kiosk's copy of ``html`` (the tile as ``render_tile`` drew it for users): its name
    not a link. Only the name's small template is drawn twice, not the whole tile, so kiosk
    screens add little to the fan-out; if the name is not where it is expected, the whole
    tile is drawn again rather than a link sent to a kiosk."""
    context = {"station": tile.station}
    linked = render_to_string("wall/_tile_name.html", {**context, "kiosk": False})
    if linked not in html:
        return render_tile(tile, oob='hx-swap-oob="true"' in html, kiosk=True)
    return html.replace(
        linked, render_to_string("wall/_tile_name.html", {**context, "kiosk": True}), 1
    )


def render_heartbeat(live_as_of: datetime | None, *, stale: bool) -> str:
    return render_to_string("wall/_heartbeat.html", heartbeat_context(live_as_of, stale=stale))


def heartbeat_context(
    live_as_of: datetime | None, *, stale: bool, oob: bool = True
) -> dict[str, object]:
    """What the heartbeat shows: the wall's and the station page's one mark of freshness."""
    return {
        "live_as_of": live_as_of,
        "stale": stale,
        "oob": oob,
        "stale_after": stale_after().total_seconds(),
    }


def render_snapshot(
    wall_filter: WallFilter,
    now: datetime | None = None,
    language: str | None = None,
    *,
    kiosk: bool = False,
) -> list[str]:
    """Everything a wall shows, as out-of-band swaps: sent when a socket (re)connects.

    One message per ``TILES_PER_FRAME`` tiles (the first replaces the grid, the next ones
    append to it), so that the wall of thousands of stations stays under the WebSocket
    message limit. Walls with the same filter share one rendering until the next poll or the
    next refresh of the shift figures: after a restart, every screen reconnects within
    seconds and asks for the same snapshot (one draws it, the others wait for it).
    ``language``: the active one when not given; ``kiosk``: for a kiosk screen (tiles that
    are not links).
    """
    now = now or timezone.now()
    language = language or translation.get_language()
    health = ingest_health(now)
    key = (wall_filter, health.live_as_of, health.stale, current_generation(), language, kiosk)
    return _snapshots.get(
        lambda: _render_snapshot(wall_filter, now, language, health, kiosk=kiosk), key=key
    )


def _render_snapshot(
    wall_filter: WallFilter, now: datetime, language: str, health: IngestHealth, *, kiosk: bool
) -> list[str]:
    tiles = wall_tiles(wall_filter, now)
    chunks = [tiles[at : at + TILES_PER_FRAME] for at in range(0, len(tiles), TILES_PER_FRAME)]
    with translation.override(language):
        frames: list[str] = [
            render_to_string(
                "wall/_grid.html",
                {"tiles": chunks[0] if chunks else [], "oob": True, "kiosk": kiosk},
            )
        ]
        frames += [
            render_to_string("wall/_grid.html", {"tiles": more, "append": True, "kiosk": kiosk})
            for more in chunks[1:]
        ]
        frames[-1] += render_heartbeat(health.live_as_of, stale=health.stale)
    return frames


#: Walls with the same filter, language and data share one rendering (up to 64 of them).
_snapshots: Memo[list[str]] = Memo("dashboard.wall.snapshots", size=64)


def render_station_live(
    station_id: int, now: datetime | None = None, language: str | None = None
) -> str | None:
    now = now or timezone.now()
    station = tile_stations().filter(pk=station_id).first()
    if station is None:
        return None
    shift = (cached_figures() or {}).get(station_id)
    health = ingest_health(now)
    with translation.override(language or translation.get_language()):
        html = _station_live_html(tile_for(station, stale=False, now=now, shift=shift), now)
        return html + render_heartbeat(health.live_as_of, stale=health.stale)


def _station_live_html(tile: Tile, now: datetime) -> str:
    return render_to_string("stations/_station_live.html", {"tile": tile, "oob": True, "now": now})


def _changed_tiles(event: StationsChanged) -> list[Tile]:
    changed = [change.station_id for change in event.changes]
    figures = cached_figures() or {}
    return [
        tile_for(station, stale=False, now=event.at, shift=figures.get(station.pk))
        for station in tile_stations().filter(pk__in=changed)
    ]


Parts = dict[str, list[realtime.Part]]


def _fan_out_parts(tiles: list[Tile], at: datetime, *, kiosks: bool = False) -> tuple[Parts, Parts]:
    """Group -> (station id, HTML) of each changed station, each tile rendered once, in the
    active language; and the same for kiosk screens' wall groups (only when ``kiosks``)."""
    parts: Parts = defaultdict(list)
    kiosk_parts: Parts = defaultdict(list)
    for tile in tiles:
        station = tile.station
        html = render_tile(tile, oob=True)
        unlinked = kiosk_tile(tile, html) if kiosks else ""
        for group in groups_of(station):
            parts[group].append((station.pk, html))
            if kiosks:
                kiosk_parts[group].append((station.pk, unlinked))
        station_live = _station_live_html(tile, at)
        parts[realtime.station_group(station.pk)].append((station.pk, station_live))
    return parts, kiosk_parts


def kiosks_in_use() -> bool:
    """Whether any kiosk screen may be listening (one cheap query per poll): a plant without
    kiosk screens sends nothing for them."""
    return Screen.objects.filter(revoked_at=None).exists()


def fan_out(event: StationsChanged, language: str | None = None) -> dict[str, str]:
    """The messages of one poll cycle in one language: group -> HTML."""
    with translation.override(language or translation.get_language()):
        parts, _kiosk = _fan_out_parts(_changed_tiles(event), event.at)
    return {group: "".join(html for _, html in chunk) for group, chunk in parts.items()}


def publish_cycle(event: StationsChanged) -> None:
    """After each live poll and each change of the shift figures: one message per group.

    Every wall group hears from every poll (its changed tiles and the heartbeat in one
    frame, or in several of ``TILES_PER_FRAME`` tiles when most stations changed at once), so
    a screen gets one frame per poll however many stations changed. The tiles travel as
    parts, one per station, so that the socket of a user limited to some stations sends its
    own stations' tiles only, without rendering anything again. All of it once per language
    in use, and the wall groups' messages once more for kiosk screens, whose tiles are not
    links. The first send that fails (logged by ``realtime.send``) ends the cycle's sending:
    the channel layer is down, and every other group would hold the poll as long for
    nothing. The walls' missing heartbeat shows their data as stale until one gets through.
    """
    tiles = _changed_tiles(event)
    groups = wall_groups()
    kiosks = kiosks_in_use()
    for language in languages_in_use():
        with translation.override(language):
            heartbeat = _heartbeat(event)
            all_parts, kiosk_parts = _fan_out_parts(tiles, event.at, kiosks=kiosks)
        sent = (
            _send_parts(language, groups | all_parts.keys(), all_parts, heartbeat)
            and (
                not kiosks
                or _send_parts(
                    language, groups | kiosk_parts.keys(), kiosk_parts, heartbeat, kiosk=True
                )
            )
            and realtime.send(
                realtime.language_group(realtime.STATION_HEARTBEAT_GROUP, language),
                realtime.live_html(tail=heartbeat),
            )
        )
        if not sent:
            return


def _send_parts(
    language: str,
    groups: Iterable[str],
    all_parts: Mapping[str, list[realtime.Part]],
    heartbeat: str,
    *,
    kiosk: bool = False,
) -> bool:
    """Each group's frames (a wall group's last one with the heartbeat); False as soon as
    one could not be sent."""
    for group in groups:
        tail = heartbeat if realtime.is_wall_group(group) else ""
        for frame in _frames(all_parts.get(group, []), tail):
            if not realtime.send(realtime.language_group(group, language, kiosk=kiosk), frame):
                return False
    return True


def _frames(parts: list[realtime.Part], tail: str) -> list[realtime.LiveHtml]:
    """One group's messages: at most ``TILES_PER_FRAME`` tiles each, ``tail`` after the last."""
    chunks = [parts[at : at + TILES_PER_FRAME] for at in range(0, len(parts), TILES_PER_FRAME)]
    chunks = chunks or [[]]
    return [
        realtime.live_html(chunk, tail if number == len(chunks) else "")
        for number, chunk in enumerate(chunks, start=1)
    ]


def _heartbeat(event: StationsChanged) -> str:
    """A poll's heartbeat says its data is live as of the poll. The shift figures' refresh
    (changes in the ``kpis`` field only) is no poll: its heartbeat repeats the last poll's
    time and staleness, so that it never passes stale data off as live."""
    if event.changes and all(change.fields == (KPI_FIELD,) for change in event.changes):
        health = ingest_health(event.at)
        return render_heartbeat(health.live_as_of, stale=health.stale)
    return render_heartbeat(event.at, stale=False)


def client_settings(rotation_seconds: int | None = None) -> dict[str, int | float]:
    """What the browser needs to run the wall on its own between messages."""
    return {
        "stale_after": stale_after().total_seconds(),
        "page_size": settings.WALL_PAGE_SIZE,
        "rotation": rotation_seconds or settings.WALL_ROTATION_SECONDS,
        "reload_hour": settings.WALL_RELOAD_HOUR,
    }


def distinct_choices(limit: frozenset[int] | None = None) -> dict[str, list[str]]:
    """The values a wall can be filtered by, for the filter form: only those of the stations
    the viewer may see (``limit``; None for all)."""
    stations = Station.objects.filter(present_in_cwork=True).order_by()
    if limit is not None:
        stations = stations.filter(pk__in=limit)
    mdc: set[str] = set()
    for groups in stations.values_list("mdc_groups", flat=True):
        mdc.update(g for g in groups or [] if g)
    return {
        "workshop": _sorted(stations.values_list("workshop", flat=True)),
        "mdc_group": sorted(mdc),
        "dnc_group": _sorted(stations.values_list("dnc_group", flat=True)),
    }


def _sorted(values: Iterable[str]) -> list[str]:
    return sorted({v for v in values if v})
