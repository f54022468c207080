"""What one run of an ingest job did: recorded as a ``PollRecord`` and returned to callers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from stations.events import StationsChanged


@dataclass(slots=True)
class RunReport:
    stations_seen: int = 0
    stations_changed: int = 0
    rows_written: int = 0
    #: How many stations (or records) changed, per field or kind.
    changes: Counter[str] = field(default_factory=Counter)
    #: Records that could not be read or stored, each with its reason; the rest went on.
    problems: list[str] = field(default_factory=list)
    event: StationsChanged | None = None
    #: Set when this kind of job cannot run at all (a CWork licence the server lacks).
    unavailable: str = ""
