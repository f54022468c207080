"""Is the data fresh? Read from the poll records, never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from stations.models import PollRecord, SyncKind, SyncState, job_kinds


@dataclass(frozen=True, slots=True)
class KindHealth:
    kind: str
    #: The job's name (``stations.jobs.Job.label``).
    label: str
    last_success: datetime | None
    last_attempt: datetime | None
    last_error: str
    failures: int
    unavailable: str


@dataclass(frozen=True, slots=True)
class IngestHealth:
    #: Every job's, the ingest's own and the registered ones, by kind.
    kinds: dict[str, KindHealth]
    #: The live data is older than ``STALE_AFTER_POLLS`` poll intervals (or never came).
    stale: bool
    #: When the live data was last known good.
    live_as_of: datetime | None


def stale_after() -> timedelta:
    return timedelta(seconds=settings.STALE_AFTER_POLLS * settings.POLL_INTERVAL)


def ingest_health(now: datetime | None = None) -> IngestHealth:
    now = now or timezone.now()
    states = {s.kind: s for s in SyncState.objects.all()}
    kinds = {}
    for kind, label in job_kinds():
        success = PollRecord.objects.filter(kind=kind, ok=True).order_by("-started_at").first()
        attempt = PollRecord.objects.filter(kind=kind).order_by("-started_at").first()
        state = states.get(kind)
        kinds[kind] = KindHealth(
            kind=kind,
            label=str(label),
            last_success=_finished(success),
            last_attempt=attempt.started_at if attempt else None,
            last_error=state.last_error if state else "",
            failures=state.failures if state else 0,
            unavailable=state.unavailable if state else "",
        )
    live_as_of = kinds[SyncKind.LIVE].last_success
    stale = live_as_of is None or now - live_as_of > stale_after()
    return IngestHealth(kinds=kinds, stale=stale, live_as_of=live_as_of)


def _finished(record: PollRecord | None) -> datetime | None:
    if record is None:
        return None
    return record.started_at + timedelta(seconds=record.duration)
