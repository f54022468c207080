"""The change events the ingest publishes on the channel layer, and the one helper that sends.

One poll cycle makes at most one ``stations.changed`` event, whatever the number of stations
that changed, so a consumer can render each changed tile once and send one message per group.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

#: Every consumer interested in live station changes joins this group.
STATIONS_GROUP = "stations"
STATIONS_CHANGED = "stations.changed"

_home_loop: asyncio.AbstractEventLoop | None = None


@dataclass(frozen=True, slots=True)
class StationChange:
    station_id: int
    cwork_id: int
    #: Names of the live-status fields that changed ("state", "alarms", "reporting", ...).
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StationsChanged:
    """One live poll's changes; empty after a successful poll where nothing changed."""

    at: datetime
    changes: tuple[StationChange, ...] = field(default=())

    def message(self) -> dict[str, Any]:
        return {
            "type": STATIONS_CHANGED,
            "at": self.at.isoformat(),
            "stations": [
                {"id": c.station_id, "cwork_id": c.cwork_id, "fields": list(c.fields)}
                for c in self.changes
            ],
        }


def use_event_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Send from threads through ``loop``: the in-process channel layer lives in one loop.

    The embedded run gives daphne's loop here; with Redis it is not needed.
    """
    global _home_loop
    _home_loop = loop


def send(group: str, message: dict[str, Any], *, timeout: float = 5.0) -> None:
    """``group_send`` from synchronous code (a Celery task, a scheduler thread, a view)."""
    layer = get_channel_layer()
    if layer is None:
        return
    if _home_loop is not None and _home_loop.is_running():
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _home_loop)
        future.result(timeout)
    else:
        async_to_sync(layer.group_send)(group, message)


def publish(event: StationsChanged) -> None:
    """The batched event for any listener; nothing is sent when nothing changed."""
    if event.changes:
        send(STATIONS_GROUP, event.message())
