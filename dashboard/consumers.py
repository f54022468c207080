"""WebSocket consumers: thin. Who may listen is decided by ``dashboard.access``; what is sent
is rendered by ``dashboard.wall``; the groups and messages are ``core.realtime``'s (a handler
is named after the message type it handles). Nothing a browser sends is acted upon (actions
are POSTs)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.languages import user_language
from core import realtime
from dashboard import access, wall
from dashboard.metrics import websocket_connections

#: Close code for a socket that may not (or may no longer) listen: the page must not retry.
FORBIDDEN = 4403


class LiveConsumer(AsyncWebsocketConsumer):
    """Joins its groups, sends a snapshot on (re)connect, then forwards the groups' HTML."""

    joined: list[str]
    #: Its label in the open-sockets gauge (``dashboard.metrics``).
    metric_name = "live"

    async def join(self, groups: list[str]) -> None:
        self.joined = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        # Counted once joined (just before accepting), uncounted on disconnect.
        self.counted = True
        websocket_connections.labels(self.metric_name).inc()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "counted", False):
            self.counted = False
            websocket_connections.labels(self.metric_name).dec()
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Browsers have nothing to say here; a message is ignored, never acted upon."""

    async def live_html(self, event: dict[str, Any]) -> None:
        html = realtime.live_html_text(event)
        if html:
            await self.send(text_data=html)


class WallConsumer(LiveConsumer):
    metric_name = "wall"

    async def connect(self) -> None:
        grant = await database_sync_to_async(access.wall_grant_for_scope)(self.scope)
        if grant is None:
            await self.close(code=FORBIDDEN)
            return
        self.grant = grant
        groups = [realtime.language_group(grant.filter.group(), grant.language, kiosk=grant.kiosk)]
        if grant.screen_id is not None:
            groups.append(realtime.screen_group(grant.screen_id))
        await self.join(groups)
        await self.accept()
        render = database_sync_to_async(wall.render_snapshot)
        for frame in await render(grant.filter, language=grant.language, kiosk=grant.kiosk):
            await self.send(text_data=frame)
        if grant.screen_id is not None:
            await database_sync_to_async(access.screen_socket_opened)(grant.screen_id)

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        grant = getattr(self, "grant", None)
        if grant is not None and grant.screen_id is not None:
            await database_sync_to_async(access.screen_socket_closed)(grant.screen_id)

    async def live_html(self, event: dict[str, Any]) -> None:
        """A limited user's wall gets the tiles of its own stations only."""
        html = realtime.live_html_text(event, self.grant.filter.allows)
        if html:
            await self.send(text_data=html)

    async def screen_identify(self, event: dict[str, Any]) -> None:
        await self.send(
            text_data=access.command_html("identify", event.get("name", ""), self.grant.language)
        )

    async def screen_reload(self, event: dict[str, Any]) -> None:
        await self.send(text_data=access.command_html("reload", "", self.grant.language))

    async def screen_revoked(self, event: dict[str, Any]) -> None:
        await self.close(code=FORBIDDEN)


class StationConsumer(LiveConsumer):
    """A station page's live part; for logged-in users only (kiosk screens never)."""

    metric_name = "station"

    async def connect(self) -> None:
        station_id = int(self.scope["url_route"]["kwargs"]["pk"])
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=FORBIDDEN)
            return
        if not await database_sync_to_async(access.may_see_station)(user, station_id):
            await self.close(code=FORBIDDEN)
            return
        language = await database_sync_to_async(user_language)(user)
        html = await database_sync_to_async(wall.render_station_live)(station_id, language=language)
        if html is None:
            await self.close(code=FORBIDDEN)
            return
        await self.join(
            [
                realtime.language_group(realtime.station_group(station_id), language),
                realtime.language_group(realtime.STATION_HEARTBEAT_GROUP, language),
            ]
        )
        await self.accept()
        await self.send(text_data=html)
