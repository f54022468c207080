"""Every periodic job, in one list: Celery beat and the embedded scheduler both read it.

Each Celery entry expires after one interval, so a slow worker never finds a pile of queued
polls to run back to back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from alerts.reports import SHIFT_END_INTERVAL, run_shift_ends
from alerts.sending import DELIVERY_INTERVAL, deliver_due
from kpis.current import KPI_TILE_REFRESH, TASK_NAME, publish_current_shift
from stations.jobs import JOBS, prune_poll_records, run_job

PRUNE_INTERVAL = 3600.0


@dataclass(frozen=True, slots=True)
class Entry:
    #: The Celery task's name.
    task: str
    interval: float
    #: The plain function the task calls.
    run: Callable[[], Any]


def entries() -> list[Entry]:
    jobs = [
        Entry(f"stations.{kind}", job.interval, partial(run_job, kind))
        for kind, job in JOBS.items()
    ]
    return [
        *jobs,
        Entry("stations.prune", PRUNE_INTERVAL, prune_poll_records),
        # The tiles' current-shift figures, recomputed and re-rendered where they changed.
        Entry(TASK_NAME, KPI_TILE_REFRESH, publish_current_shift),
        # Alert and report messages waiting to be sent, first tries and retries alike.
        Entry("alerts.deliver", DELIVERY_INTERVAL, deliver_due),
        # Shifts that just ended: their end-of-shift reports and shift-OEE alerts.
        Entry("alerts.shift_end", SHIFT_END_INTERVAL, run_shift_ends),
    ]


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        entry.task: {
            "task": entry.task,
            "schedule": entry.interval,
            "options": {"expires": entry.interval},
        }
        for entry in entries()
    }
