"""Prometheus metrics, for ``/metrics``.

The polls run in the Celery worker, the page is served by daphne: in-process counters would
only see this process. So the ingest's figures are read from the database at scrape time,
from what ``stations.jobs.run_job`` records (``PollRecord``, ``SyncState``), together with the
audit trail and the kiosk screens. Only the open WebSockets are counted in-process (each
daphne process knows its own): ``websocket_connections`` below, in the default registry.

A scrape costs a handful of indexed queries: one grouped count of the poll records, the last
``RECENT_RUNS`` successful runs of each kind, and small grouped counts of the other tables.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Max, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerts.models import Alert, Delivery
from audit.models import ActionAttempt
from audit.models import Outcome as ActionOutcome
from core import proxies
from screens.models import Screen
from stations.health import stale_after
from stations.models import LiveStatus, PollRecord, SyncKind, SyncState, job_kinds

logger = logging.getLogger(__name__)

PREFIX = "cwork_dashboard"
#: The recent window of each kind: its last this many successful runs.
RECENT_RUNS = 100
QUANTILES = (0.5, 0.9, 0.99)

#: Open WebSockets of this daphne process (sum over the processes for the whole dashboard).
websocket_connections = Gauge(
    f"{PREFIX}_websocket_connections",
    "WebSockets open in this daphne process now, by consumer (wall or station page). "
    "Per process: sum over the web processes.",
    ["consumer"],
)


def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    index = min(len(values) - 1, max(0, round(q * len(values) + 0.5) - 1))
    return values[index]


class DatabaseCollector(Collector):
    """Reads the ingest's, the actions' and the screens' figures from the database."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily(
            f"{PREFIX}_metrics_database_up",
            "1 when the figures below could be read from the database at this scrape, else 0.",
        )
        try:
            families = list(self._families(timezone.now()))
        except DatabaseError:
            logger.exception("metrics: the database could not be read")
            families = []
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
        yield from families
        yield up
        duration = GaugeMetricFamily(
            f"{PREFIX}_metrics_collect_seconds",
            "Seconds this scrape spent reading the database.",
        )
        duration.add_metric([], time.perf_counter() - started)
        yield duration

    def _families(self, now: datetime) -> Iterator[Metric]:
        found: dict[str, bool] = {}
        yield from self._polls(now, found)
        yield from self._sync_states(now)
        yield from self._stations(found["live_stale"])
        yield from self._actions()
        yield from self._alerts()
        yield from self._screens()

    def _polls(self, now: datetime, found: dict[str, bool]) -> Iterator[Metric]:
        kinds = [kind for kind, _label in job_kinds()]
        retention = settings.POLL_RECORD_RETENTION_DAYS
        runs = GaugeMetricFamily(
            f"{PREFIX}_poll_runs",
            f"Runs of each ingest job among the stored poll records (the last {retention} "
            "days: POLL_RECORD_RETENTION_DAYS). Read from the database, not a process "
            "counter: it drops when old records are pruned; use delta() or increase() over "
            "windows shorter than the retention.",
            labels=["kind"],
        )
        failures = GaugeMetricFamily(
            f"{PREFIX}_poll_failures",
            f"Failed runs (CWork error, bug, missing licence) of each ingest job among the "
            f"stored poll records (the last {retention} days); counter-like, as "
            f"{PREFIX}_poll_runs.",
            labels=["kind"],
        )
        last_success = GaugeMetricFamily(
            f"{PREFIX}_poll_last_success_timestamp_seconds",
            "When the last successful run of each job finished (Unix time); absent if none.",
            labels=["kind"],
        )
        last_success_age = GaugeMetricFamily(
            f"{PREFIX}_poll_last_success_age_seconds",
            "Seconds since the last successful run of each job finished, at scrape time.",
            labels=["kind"],
        )
        last_failure = GaugeMetricFamily(
            f"{PREFIX}_poll_last_failure_timestamp_seconds",
            "When the last failed run of each job started (Unix time); absent if none.",
            labels=["kind"],
        )
        counted = {(row["kind"], row["ok"]): row for row in _poll_counts()}
        for kind in kinds:
            ok, failed = counted.get((kind, True)), counted.get((kind, False))
            runs.add_metric([kind], (ok["n"] if ok else 0) + (failed["n"] if failed else 0))
            failures.add_metric([kind], failed["n"] if failed else 0)
            if failed:
                last_failure.add_metric([kind], failed["last"].timestamp())

        last_duration = GaugeMetricFamily(
            f"{PREFIX}_poll_last_duration_seconds",
            "Duration of the last successful run of each job, in seconds.",
            labels=["kind"],
        )
        recent_duration = GaugeMetricFamily(
            f"{PREFIX}_poll_recent_duration_seconds",
            f"Quantiles of the duration of the last {RECENT_RUNS} successful runs of each job "
            "(nearest rank; quantile=1 is the longest), in seconds.",
            labels=["kind", "quantile"],
        )
        recent_average = GaugeMetricFamily(
            f"{PREFIX}_poll_recent_duration_average_seconds",
            f"Average duration of the last {RECENT_RUNS} successful runs of each job, seconds.",
            labels=["kind"],
        )
        recent_runs = GaugeMetricFamily(
            f"{PREFIX}_poll_recent_runs",
            f"Successful runs in the recent window of each job (at most {RECENT_RUNS}).",
            labels=["kind"],
        )
        changed_last = GaugeMetricFamily(
            f"{PREFIX}_poll_stations_changed_last",
            "Stations changed by the last successful run of each job (live: status changes; "
            "history: stations with rows written).",
            labels=["kind"],
        )
        changed_average = GaugeMetricFamily(
            f"{PREFIX}_poll_stations_changed_recent_average",
            f"Average stations changed per run over the last {RECENT_RUNS} successful runs.",
            labels=["kind"],
        )
        for kind in kinds:
            recent = list(
                PollRecord.objects.filter(kind=kind, ok=True)
                .order_by("-started_at")
                .values_list("started_at", "duration", "stations_changed")[:RECENT_RUNS]
            )
            if not recent:
                continue
            started_at, duration, changed = recent[0]
            finished = started_at.timestamp() + duration
            last_success.add_metric([kind], finished)
            last_success_age.add_metric([kind], max(0.0, now.timestamp() - finished))
            last_duration.add_metric([kind], duration)
            changed_last.add_metric([kind], changed)
            durations = sorted(row[1] for row in recent)
            for q in (*QUANTILES, 1):
                recent_duration.add_metric([kind, f"{q:g}"], _quantile(durations, q))
            recent_average.add_metric([kind], statistics.fmean(durations))
            recent_runs.add_metric([kind], len(recent))
            changed_average.add_metric([kind], statistics.fmean(row[2] for row in recent))
        yield from (runs, failures, last_success, last_success_age, last_failure)
        yield from (last_duration, recent_duration, recent_average, recent_runs)
        yield from (changed_last, changed_average)

        stale = GaugeMetricFamily(
            f"{PREFIX}_live_stale",
            "1 when the live data is older than STALE_AFTER_POLLS x POLL_INTERVAL "
            f"({stale_after().total_seconds():g} s) or never came, else 0.",
        )
        found["live_stale"] = self._live_stale(last_success_age)
        stale.add_metric([], 1 if found["live_stale"] else 0)
        yield stale

    def _live_stale(self, ages: GaugeMetricFamily) -> bool:
        live = [s.value for s in ages.samples if s.labels["kind"] == SyncKind.LIVE.value]
        return not live or live[0] > stale_after().total_seconds()

    def _sync_states(self, now: datetime) -> Iterator[Metric]:
        consecutive = GaugeMetricFamily(
            f"{PREFIX}_poll_consecutive_failures",
            "Failures in a row of each job since its last success (its back-off grows with it).",
            labels=["kind"],
        )
        backing_off = GaugeMetricFamily(
            f"{PREFIX}_poll_backing_off",
            "1 while a job waits before its next try (after failures or a refused licence).",
            labels=["kind"],
        )
        unavailable = GaugeMetricFamily(
            f"{PREFIX}_poll_unavailable",
            "1 when CWork refuses a job (a licence module or the API key's rights missing).",
            labels=["kind"],
        )
        states = {s.kind: s for s in SyncState.objects.all()}
        for kind, _label in job_kinds():
            state = states.get(kind)
            consecutive.add_metric([kind], state.failures if state else 0)
            waiting = bool(state and state.retry_at and state.retry_at > now)
            backing_off.add_metric([kind], 1 if waiting else 0)
            unavailable.add_metric([kind], 1 if state and state.unavailable else 0)
        yield from (consecutive, backing_off, unavailable)

    def _stations(self, live_stale: bool) -> Iterator[Metric]:
        counts = LiveStatus.objects.aggregate(
            total=Count("pk"), missing=Count("pk", filter=Q(missing_since__isnull=False))
        )
        total = GaugeMetricFamily(f"{PREFIX}_stations", "Stations with a stored live status.")
        total.add_metric([], counts["total"])
        missing = GaugeMetricFamily(
            f"{PREFIX}_stations_not_reporting",
            "Stations CWork leaves out of its live answers (LiveStatus.missing_since set).",
        )
        missing.add_metric([], counts["missing"])
        stale = GaugeMetricFamily(
            f"{PREFIX}_stations_stale",
            "Stations whose shown data is older than the stale threshold: all of them while "
            "the live data is stale, else those not reporting.",
        )
        stale.add_metric([], counts["total"] if live_stale else counts["missing"])
        yield from (total, missing, stale)

    def _actions(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            f"{PREFIX}_actions",
            "Supervisor actions attempted, by action and outcome (from the audit trail, whose "
            "rows are never deleted).",
            labels=["action", "outcome"],
        )
        failed = CounterMetricFamily(
            f"{PREFIX}_action_failures",
            "Supervisor actions attempted that were not done (any outcome but ok), by action.",
            labels=["action"],
        )
        rows = ActionAttempt.objects.values("action", "outcome").annotate(n=Count("pk"))
        by_action: dict[str, int] = {}
        for row in rows.order_by():
            attempts.add_metric([row["action"], row["outcome"]], row["n"])
            if row["outcome"] != ActionOutcome.OK:
                by_action[row["action"]] = by_action.get(row["action"], 0) + row["n"]
        for action, n in sorted(by_action.items()):
            failed.add_metric([action], n)
        yield from (attempts, failed)

    def _alerts(self) -> Iterator[Metric]:
        open_alerts = GaugeMetricFamily(
            f"{PREFIX}_alerts_open",
            "Alerts whose condition holds now: pending (not yet long enough) or firing.",
            labels=["status"],
        )
        rows = dict(
            Alert.objects.exclude(status=Alert.Status.RESOLVED)
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for status in (Alert.Status.PENDING, Alert.Status.FIRING):
            open_alerts.add_metric([status], rows.get(status, 0))
        deliveries = GaugeMetricFamily(
            f"{PREFIX}_alert_deliveries",
            "Alert and report messages by channel and status (failed: given up after every "
            "retry; pending includes those waiting for a retry).",
            labels=["channel", "status"],
        )
        counts = Delivery.objects.values_list("channel", "status").annotate(n=Count("pk"))
        found = {(channel, status): n for channel, status, n in counts.order_by()}
        for channel in Delivery.Channel:
            for delivery_status in Delivery.Status:
                deliveries.add_metric(
                    [channel, delivery_status], found.get((channel, delivery_status), 0)
                )
        yield from (open_alerts, deliveries)

    def _screens(self) -> Iterator[Metric]:
        sockets = GaugeMetricFamily(
            f"{PREFIX}_screen_connections",
            "Open WebSockets of each enrolled kiosk screen, as recorded in the database "
            "(all web processes together).",
            labels=["screen"],
        )
        online = GaugeMetricFamily(
            f"{PREFIX}_screens_online", "Enrolled kiosk screens with at least one open socket."
        )
        rows = Screen.objects.filter(revoked_at=None).exclude(device_secret_hash="")
        count = 0
        for name, connected in rows.values_list("name", "connected_sockets"):
            sockets.add_metric([name], connected)
            count += connected > 0
        online.add_metric([], count)
        yield from (sockets, online)


def _poll_counts() -> list[Mapping[str, Any]]:
    return list(
        PollRecord.objects.order_by()
        .values("kind", "ok")
        .annotate(n=Count("pk"), last=Max("started_at"))
    )


_database = CollectorRegistry(auto_describe=False)
_database.register(DatabaseCollector())


def exposition() -> bytes:
    """This process's own metrics, then the database's."""
    return generate_latest(REGISTRY) + generate_latest(_database)


def may_scrape(request: HttpRequest) -> bool:
    """From a client address in ``METRICS_ALLOWED`` (behind a trusted proxy, the one it
    reports), or with ``METRICS_TOKEN`` as a bearer token."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return constant_time_compare(header.removeprefix("Bearer ").strip(), token)
    address = proxies.parse_address(proxies.client_address(request))
    return address is not None and any(address in network for network in settings.METRICS_ALLOWED)
