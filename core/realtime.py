"""The socket protocol in one place: the channel-layer groups, the messages and the one send.

Every sender goes through :func:`send` (the wall's fan-out after each poll, the screens'
commands) and every consumer joins the groups named here (``dashboard/consumers.py``). It is
in core because every layer sends: screens and stations may not import dashboard. What is
drawn in the messages (tiles, heartbeats) stays with the wall (``dashboard/wall.py``).

Groups
    ``wall.all``, ``wall.workshop.<hash>``, ``wall.mdc.<hash>``, ``wall.dnc.<hash>``: the walls,
    by the stations' own attributes (:func:`wall_group`); ``station.<id>``: one station's page;
    ``station.heartbeat``: every station page, for each poll's heartbeat; ``screen.<id>``:
    every open socket of one kiosk screen, for its commands. Walls and station pages listen in
    one language, kiosk screens apart from users' walls: :func:`language_group`.

Messages (Channels calls the consumer's method named after ``type``: ``live.html`` ->
``live_html``)
    ``live.html``: HTML for htmx to swap in place, as ``parts`` (station id, HTML), one per
    tile, then a ``tail`` (the heartbeat) for every listener; a socket limited to some
    stations keeps its own stations' parts (:func:`live_html_text`). ``screen.identify``
    (with the screen's ``name``), ``screen.reload``, ``screen.revoked``: a screen's commands.

A failed send is logged and never raised: a poll's rows and a revocation stand whether or
not a socket heard of them. :func:`send` says whether the layer took the message, for the
callers that tell a person (the screens' identify and reload buttons). Not counted in a
metric: most sends come from the Celery worker, whose in-process counters ``/metrics``
(served by daphne) never sees.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

WALL_ALL_GROUP: Final = "wall.all"
STATION_HEARTBEAT_GROUP: Final = "station.heartbeat"

LIVE_HTML: Final = "live.html"
SCREEN_IDENTIFY: Final = "screen.identify"
SCREEN_RELOAD: Final = "screen.reload"
SCREEN_REVOKED: Final = "screen.revoked"

#: How long a send from a thread waits for the embedded event loop (see ``use_event_loop``).
SEND_TIMEOUT = 5.0

#: The attributes a wall group follows (workshop, MDC group, DNC group).
WallKind = Literal["workshop", "mdc", "dnc"]
#: One tile's HTML and the station it shows.
Part = tuple[int, str]


class LiveHtml(TypedDict):
    type: Literal["live.html"]
    parts: list[Part]
    tail: str


class ScreenIdentify(TypedDict):
    type: Literal["screen.identify"]
    name: str


class ScreenCommand(TypedDict):
    type: Literal["screen.reload", "screen.revoked"]


Message = LiveHtml | ScreenIdentify | ScreenCommand


# --- groups -------------------------------------------------------------------------------------


def wall_group(kind: WallKind, value: str) -> str:
    """The group of the walls that show the stations of one workshop, MDC or DNC group."""
    # Group names are ASCII and short: CWork's names are neither, so they are hashed.
    return f"wall.{kind}.{hashlib.sha1(value.encode()).hexdigest()[:16]}"  # noqa: S324


def is_wall_group(group: str) -> bool:
    return group.startswith("wall.")


def station_group(station_id: int) -> str:
    return f"station.{station_id}"


def screen_group(screen_id: int) -> str:
    """The group every open socket of one screen joins."""
    return f"screen.{screen_id}"


def language_group(group: str, language: str, *, kiosk: bool = False) -> str:
    """Sockets listen in one language: a group's messages are sent once per language in use.

    Kiosk screens listen apart (``kiosk``): their tiles are not links, as they have no station
    pages to open.
    """
    return f"{group}.{language}.kiosk" if kiosk else f"{group}.{language}"


# --- messages -----------------------------------------------------------------------------------


def live_html(parts: Iterable[Part] = (), tail: str = "") -> LiveHtml:
    return {"type": LIVE_HTML, "parts": list(parts), "tail": tail}


def screen_identify(name: str) -> ScreenIdentify:
    return {"type": SCREEN_IDENTIFY, "name": name}


def screen_reload() -> ScreenCommand:
    return {"type": SCREEN_RELOAD}


def screen_revoked() -> ScreenCommand:
    return {"type": SCREEN_REVOKED}


def live_html_text(message: Mapping[str, Any], allows: Callable[[int], bool] | None = None) -> str:
    """What a socket sends its browser for a ``live.html`` message: the parts of the stations
    ``allows`` (all when None), then the tail. A message not in that shape gives nothing,
    rather than a limited user's socket risking tiles it may not show."""
    parts, tail = message.get("parts"), message.get("tail", "")
    if not isinstance(parts, list | tuple) or not isinstance(tail, str):
        return ""
    kept: list[str] = []
    try:
        for station_id, html in parts:
            if allows is None or allows(station_id):
                kept.append(str(html))
    except (TypeError, ValueError):
        return ""
    return "".join(kept) + tail


# --- sending ------------------------------------------------------------------------------------

_home_loop: asyncio.AbstractEventLoop | None = None


def use_event_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Send from threads through ``loop``: the in-process channel layer lives in one loop.

    The embedded run gives daphne's loop here; with Redis it is not needed.
    """
    global _home_loop
    _home_loop = loop


def send(group: str, message: Message, *, timeout: float = SEND_TIMEOUT) -> bool:
    """``group_send`` from synchronous code (a Celery task, a scheduler thread, a view).

    True when the channel layer took the message (whether or not anyone listens); False when
    it could not be sent, logged, never raised.
    """
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        loop = _home_loop
        if loop is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            try:
                future.result(timeout)
            finally:
                future.cancel()  # a no-op once done; stops a send that timed out
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("Could not send %s to %s", message["type"], group)
        return False
    return True
