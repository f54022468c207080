"""Running one ingest job: the lock, the back-off, the record of the run and the event.

Celery tasks, the embedded scheduler, the ``poll`` command and the actions' immediate
re-poll all call ``run_job``; none of them holds any of this logic. It knows no feature: the
ingest's own jobs are listed here, other apps add theirs with :func:`register` (kpis: CWork's
figures), and whatever reacts to a poll listens to ``stations.signals``.
"""

from __future__ import annotations

import logging
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.module_loading import import_string

from core.locks import exclusive
from core.logs import log_context
from cwork.client import CWorkClient
from cwork.errors import CWorkError, CWorkLicenseError
from stations import events
from stations.catalogue import sync_catalogue
from stations.connection import shared_cwork_client
from stations.history import sync_history
from stations.live import poll_live
from stations.models import JOB_KINDS, PollRecord, Station, SyncKind, SyncState
from stations.orders import sync_orders
from stations.run_report import RunReport
from stations.signals import poll_committed

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    #: What its runs are recorded under (``PollRecord.kind``, ``SyncState.kind``).
    kind: str
    #: Its name on the operators' pages (the CWork connection page, the admin).
    label: str | Promise
    run: Callable[..., RunReport]
    #: The setting that holds its interval, in seconds.
    interval_setting: str
    #: How long a run may hold its lock, in seconds or as a function of the settings: a
    #: worker that dies frees it after this.
    lock_ttl: float | Callable[[], float]
    #: The CWork licence module it needs beyond the live data's, if any: without it the job
    #: is recorded as unavailable once and re-checked now and then, not retried every cycle.
    licence: str = ""
    #: It works station by station: on a fresh start it waits for the stations to be known
    #: instead of finding none and waiting a whole interval.
    needs_catalogue: bool = False

    @property
    def interval(self) -> float:
        return float(getattr(settings, self.interval_setting))

    @property
    def lock_seconds(self) -> float:
        return float(self.lock_ttl() if callable(self.lock_ttl) else self.lock_ttl)


def live_lock_ttl() -> float:
    """Ten poll intervals, and never less than one whole CWork call (3 × CWORK_TIMEOUT): a
    killed worker's live lock holds the live poll back a few polls, not a fixed minute."""
    return max(10 * float(settings.POLL_INTERVAL), 3 * float(settings.CWORK_TIMEOUT))


def _own(
    kind: SyncKind, run: Callable[..., RunReport], interval_setting: str, **options: Any
) -> Job:
    return Job(kind, kind.label, run, interval_setting, **options)


#: Every job by kind, in the order the schedule lists them: the ingest's own, then the ones
#: other apps register from their ``AppConfig.ready()``.
JOBS: dict[str, Job] = {
    SyncKind.LIVE: _own(SyncKind.LIVE, poll_live, "POLL_INTERVAL", lock_ttl=live_lock_ttl),
    SyncKind.CATALOGUE: _own(
        SyncKind.CATALOGUE, sync_catalogue, "CATALOGUE_SYNC_INTERVAL", lock_ttl=120
    ),
    SyncKind.HISTORY: _own(
        SyncKind.HISTORY,
        sync_history,
        "HISTORY_SYNC_INTERVAL",
        lock_ttl=600,
        needs_catalogue=True,
    ),
    SyncKind.ORDERS: _own(
        SyncKind.ORDERS, sync_orders, "ORDERS_SYNC_INTERVAL", lock_ttl=300, licence="PROD"
    ),
}


def register(job: Job) -> Job:
    """Add another app's job: the schedule runs it (the embedded scheduler, and Celery beat as
    the ``stations.<kind>`` task, which the app's own ``tasks`` module defines), ``run_job``
    runs it with the lock and the back-off, and its runs are recorded under its kind like the
    ingest's own."""
    JOBS[job.kind] = job
    JOB_KINDS[job.kind] = job.label
    return job


@dataclass(frozen=True, slots=True)
class JobResult:
    kind: str
    ran: bool
    ok: bool = False
    #: Why it did not run, or what went wrong.
    reason: str = ""
    outcome: RunReport | None = None
    record: PollRecord | None = None


def run_job(
    kind: SyncKind | str,
    *,
    client: CWorkClient | None = None,
    now: datetime | None = None,
    publish: Callable[[events.StationsChanged], None] | None = None,
) -> JobResult:
    """Run one job unless another run of it holds the lock or it is backing off."""
    job = JOBS.get(str(kind))
    if job is None:
        raise ValueError(f"no job {kind!r}: the jobs are {', '.join(JOBS)}")
    # Every line logged during the run says which job and which run (see core.logs).
    with log_context(job=str(job.kind), poll_id=uuid.uuid4().hex[:12]):
        return _run_job(job, client=client, now=now, publish=publish)


def _run_job(
    job: Job,
    *,
    client: CWorkClient | None,
    now: datetime | None,
    publish: Callable[[events.StationsChanged], None] | None,
) -> JobResult:
    with exclusive(f"job:{job.kind}", job.lock_seconds) as acquired:
        if not acquired:
            return JobResult(job.kind, ran=False, reason="another run is in progress")
        now = now or timezone.now()
        state = SyncState.objects.filter(kind=job.kind).first()
        if state and state.retry_at and now < state.retry_at:
            reason = state.unavailable or f"backing off after {state.failures} failure(s)"
            return JobResult(job.kind, ran=False, reason=reason)
        publish = publish or import_string(settings.LIVE_PUBLISHER)
        client = client or shared_cwork_client()
        if job.needs_catalogue:
            _catalogue_first(client, now, publish)
        return _run(job, client, now, state, publish)


#: How long a job that needs the stations waits for another process's first catalogue sync.
CATALOGUE_WAIT = 30.0


def _catalogue_first(
    client: CWorkClient, now: datetime, publish: Callable[[events.StationsChanged], None]
) -> None:
    """On a fresh start every job runs at once: sync the catalogue first, or wait for the run
    already doing it."""
    if Station.objects.exists():
        return
    if run_job(SyncKind.CATALOGUE, client=client, now=now, publish=publish).ran:
        return
    deadline = time.monotonic() + CATALOGUE_WAIT
    while time.monotonic() < deadline and not Station.objects.exists():
        time.sleep(0.25)


def _run(
    job: Job,
    client: CWorkClient,
    now: datetime,
    state: SyncState | None,
    publish: Callable[[events.StationsChanged], None],
) -> JobResult:
    started = time.monotonic()
    try:
        outcome = job.run(client, now=now)
    except CWorkLicenseError as exc:
        if job.licence:
            return _unavailable(job, now, started, state, exc)
        return _failed(job, now, started, state, f"{type(exc).__name__}: {exc}")
    except CWorkError as exc:
        return _failed(job, now, started, state, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug or the database: recorded and retried, never silent
        logger.exception("%s failed", job.kind)
        return _failed(job, now, started, state, f"{type(exc).__name__}: {exc}")
    if state and (state.failures or state.retry_at or state.unavailable):
        logger.info("%s recovered after %d failure(s)", job.kind, state.failures)
        SyncState.objects.filter(pk=state.pk).update(
            failures=0, retry_at=None, last_error="", unavailable=""
        )
    for problem in outcome.problems:
        logger.warning("%s: %s", job.kind, problem, extra=_station_of(problem))
    record = PollRecord.objects.create(
        kind=job.kind,
        started_at=now,
        duration=time.monotonic() - started,
        ok=True,
        stations_seen=outcome.stations_seen,
        stations_changed=outcome.stations_changed,
        rows_written=outcome.rows_written,
        changes=dict(outcome.changes),
        problems=outcome.problems[:100],
    )
    if job.kind == SyncKind.LIVE:
        # Also after a cycle where nothing changed: screens tell live data from stale by it.
        publish(outcome.event or events.StationsChanged(at=now))
    _committed(job, now, outcome, record)
    return JobResult(job.kind, ran=True, ok=True, outcome=outcome, record=record)


def _committed(job: Job, now: datetime, outcome: RunReport, record: PollRecord) -> None:
    """Tell ``poll_committed``'s receivers (a failure of theirs never fails the poll)."""
    answers = poll_committed.send_robust(
        PollRecord, kind=job.kind, now=now, outcome=outcome, record=record
    )
    for receiver, answer in answers:
        if isinstance(answer, Exception):
            logger.error(
                "%s failed after the %s poll",
                getattr(receiver, "__qualname__", receiver),
                job.kind,
                exc_info=answer,
            )


#: A problem about one station starts with its CWork id (stations.live, stations.history).
_STATION_PROBLEM = re.compile(r"station (\d+)\b")


def _station_of(problem: str) -> dict[str, int]:
    """The ``cwork_id`` log field for a problem about one station, if it is one."""
    match = _STATION_PROBLEM.match(problem)
    return {"cwork_id": int(match.group(1))} if match else {}


def backoff(failures: int, interval: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``failures`` failures in a row: doubling, capped, jittered.

    The cap (8 intervals, between 30 s and 10 min) keeps recovery quick once CWork is back;
    the jitter keeps several dashboards on one CWork from retrying in step.
    """
    cap = min(max(30.0, 8 * interval), 600.0)
    delay = min(cap, interval * 2 ** min(failures, 16))
    return delay * (rng or random).uniform(0.8, 1.0)


def _failed(
    job: Job, now: datetime, started: float, state: SyncState | None, error: str
) -> JobResult:
    failures = (state.failures if state else 0) + 1
    retry_at = now + timedelta(seconds=backoff(failures, job.interval))
    logger.warning(
        "%s failed (%d in a row), next try after %s: %s",
        job.kind,
        failures,
        retry_at.isoformat(timespec="seconds"),
        error,
    )
    SyncState.objects.update_or_create(
        kind=job.kind,
        defaults={"failures": failures, "retry_at": retry_at, "last_error": error[:2000]},
    )
    record = PollRecord.objects.create(
        kind=job.kind,
        started_at=now,
        duration=time.monotonic() - started,
        ok=False,
        error=error[:2000],
    )
    return JobResult(job.kind, ran=True, ok=False, reason=error, record=record)


def _unavailable(
    job: Job, now: datetime, started: float, state: SyncState | None, exc: CWorkLicenseError
) -> JobResult:
    """CWork lacks the licence: record it once, then only re-check now and then."""
    reason = (
        f"CWork refuses {job.kind} ({exc}): its {job.licence} licence module, or the API "
        "key's rights, are missing"
    )
    retry_at = now + timedelta(seconds=settings.LICENCE_RECHECK_INTERVAL)
    first_time = not (state and state.unavailable)
    SyncState.objects.update_or_create(
        kind=job.kind, defaults={"retry_at": retry_at, "unavailable": reason, "failures": 0}
    )
    record = None
    if first_time:
        logger.warning(
            "%s (checked again after %s)", reason, retry_at.isoformat(timespec="minutes")
        )
        record = PollRecord.objects.create(
            kind=job.kind,
            started_at=now,
            duration=time.monotonic() - started,
            ok=False,
            error=reason,
        )
    return JobResult(job.kind, ran=True, ok=False, reason=reason, record=record)


def prune_poll_records(now: datetime | None = None) -> int:
    """Poll records older than the retention period go; the latest of each kind stays."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.POLL_RECORD_RETENTION_DAYS)
    deleted, _ = PollRecord.objects.filter(started_at__lt=cutoff).delete()
    return deleted
