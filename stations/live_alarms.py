"""A station's active alarms as the live status stores them, written and read by one rule.

``LiveStatus.alarms`` is JSON: one ``[code, message, start ISO]`` row per alarm, in CWork's
order (``stored_alarms`` writes them). Everything that shows or checks them reads them through
``decode_alarms`` (or ``LiveStatus.active_alarms``), never by index.

A row that cannot be read (written by an older version, or by hand) is left out and logged:
the live poll rewrites a stored status that differs from what CWork sends, so such a row is
gone at the next poll for a station CWork reports. A start without a time zone is read as UTC,
as CWork's own dates are (``cwork.parsing.to_datetime``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cwork.models import Alarm
from cwork.parsing import to_datetime

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveAlarm:
    """One active alarm: its CNC code, its message and since when (an aware datetime)."""

    code: str
    message: str
    start: datetime

    def stored(self) -> list[str]:
        return [self.code, self.message, self.start.isoformat()]


def stored_alarms(alarms: Iterable[Alarm | LiveAlarm]) -> list[list[str]]:
    """The JSON rows ``LiveStatus.alarms`` holds for ``alarms``, in their order."""
    return [LiveAlarm(a.code, a.message, a.start).stored() for a in alarms]


def decode_alarms(rows: Any, *, station_id: int | None = None) -> tuple[LiveAlarm, ...]:
    """The alarms ``rows`` (a stored ``LiveStatus.alarms``) name, in their order; a row that
    cannot be read is logged (with ``station_id``) and left out."""
    if not rows:
        return ()
    if not isinstance(rows, list | tuple):
        logger.warning("station %s: stored alarms %r are not a list; ignored", station_id, rows)
        return ()
    alarms = []
    for row in rows:
        alarm = _decode(row)
        if alarm is None:
            logger.warning("station %s: stored alarm %r cannot be read; ignored", station_id, row)
        else:
            alarms.append(alarm)
    return tuple(alarms)


def _decode(row: Any) -> LiveAlarm | None:
    if not isinstance(row, list | tuple) or len(row) != 3:
        return None
    code, message, start_text = row
    if not isinstance(code, str | int) or not isinstance(message, str | None):
        return None
    start, _note = to_datetime(start_text)
    if start is None or not str(code).strip():
        return None
    return LiveAlarm(str(code), message or "", start)
