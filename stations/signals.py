"""What the ingest tells the rest of the product. It names no feature: each app that reacts to
a poll connects its receivers in its own ``AppConfig.ready()``.

``poll_rows_written``
    Sent by the live poll inside its transaction, once the changed live statuses are written
    and before the commit, with ``rows`` (one :class:`StatusWritten` per station rewritten),
    ``missing`` (the ids of stations just gone quiet) and ``now``. For rows that must stand or
    fall with the poll's: a receiver returns how many rows it wrote (added to the poll's), and
    an exception rolls the whole poll back and fails it. kpis' part tally listens here: the
    poll compares each count with the stored one, so a tally committed apart from the statuses
    would lose a poll's parts (statuses committed, tally not) or count them twice.

``poll_committed``
    Sent by ``stations.jobs.run_job`` after each successful run of a job, once its rows are
    committed, its record stored and (for the live poll) its event published, with ``kind``
    (the job's, e.g. ``SyncKind.LIVE``), ``now``, ``outcome`` (its ``changes``,
    ``rows_written`` and, for the live poll, the :class:`~stations.events.StationsChanged`
    event) and ``record`` (its :class:`~stations.models.PollRecord`). A receiver's failure is
    logged and never fails the poll. The alert rules are evaluated from here.

Both are sent with the model their rows are about as ``sender`` (``LiveStatus``,
``PollRecord``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.dispatch import Signal

poll_rows_written = Signal()
poll_committed = Signal()


@dataclass(frozen=True, slots=True)
class StatusWritten:
    """One station's live status as a poll rewrote it."""

    station_id: int
    #: What changed: live-status field names (``stations.live.FIELDS``), "new" for a station
    #: seen for the first time, "reporting" for one that reports again.
    fields: tuple[str, ...]
    #: The stored values before the poll (None for a station seen for the first time) and
    #: after it, by ``stations.live.FIELDS`` name.
    before: Mapping[str, Any] | None
    after: Mapping[str, Any]
