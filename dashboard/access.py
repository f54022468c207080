"""Who may watch a wall: a logged-in user (filters from the URL) or an enrolled kiosk screen
(its own filters, whatever the URL says). The same answer for the page and its socket."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.crypto import get_random_string

from accounts.languages import user_language
from accounts.permissions import visible_stations
from accounts.profiles import profile_of
from core.languages import chosen_or_plant
from dashboard.wall import WallFilter
from screens import services as screens


@dataclass(frozen=True, slots=True)
class WallGrant:
    filter: WallFilter
    screen_id: int | None = None
    screen_name: str = ""
    #: Seconds between pages; None for the default.
    rotation: int | None = None
    #: What its tiles are written in (``dashboard.languages``).
    language: str = ""

    @property
    def stations(self) -> frozenset[int] | None:
        """The stations a limited user may see (None: no limit); the filter applies it."""
        return self.filter.stations

    @property
    def kiosk(self) -> bool:
        """A kiosk screen's: it has no station pages, so its tiles are not links."""
        return self.screen_id is not None


def station_limit(user: Any) -> frozenset[int] | None:
    """The ids of the stations ``user`` may see, or None when they may see every station.

    Taken when a page is served or a socket opens: a socket keeps it until it reconnects.
    """
    if user.is_superuser or not profile_of(user).limited:
        return None
    return frozenset(visible_stations(user).values_list("pk", flat=True))


def _grant(user: Any, screen: Any, query: Mapping[str, str]) -> WallGrant | None:
    if user is not None and user.is_authenticated:
        return WallGrant(
            filter=WallFilter.from_mapping(query, stations=station_limit(user)),
            language=user_language(user),
        )
    if screen is not None:
        return WallGrant(
            filter=WallFilter.from_mapping(screen.filters),
            screen_id=screen.pk,
            screen_name=screen.name,
            rotation=screen.rotation_seconds,
            language=chosen_or_plant(screen.language),
        )
    return None


def may_see_station(user: Any, station_id: int) -> bool:
    """A station page's socket: the user's limit applies as on the page."""
    return visible_stations(user).filter(pk=station_id).exists()


def wall_grant_for_request(request: HttpRequest) -> WallGrant | None:
    return _grant(request.user, screens.screen_from_request(request), request.GET)


def wall_grant_for_scope(scope: dict[str, Any]) -> WallGrant | None:
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    return _grant(scope.get("user"), screens.screen_from_scope(scope), query)


def screen_socket_opened(screen_id: int) -> None:
    screens.socket_opened(screen_id)


def screen_socket_closed(screen_id: int) -> None:
    screens.socket_closed(screen_id)


def command_html(command: str, text: str, language: str) -> str:
    """A command for a kiosk screen's page (identify, reload), swapped in out of band."""
    with translation.override(language):
        return render_to_string(
            "wall/_command.html",
            {"command": command, "text": text, "nonce": get_random_string(8)},
        )
