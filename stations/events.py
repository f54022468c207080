"""The change event a live poll makes, handed to the poll's publisher.

One poll cycle makes at most one event, whatever the number of stations that changed, so
that its publisher (``settings.LIVE_PUBLISHER``: the wall's fan-out) renders each changed
tile once. The event itself is never sent on the channel layer: what sockets hear is the
fan-out's HTML (``core.realtime``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
