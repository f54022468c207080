"""CWork's own KPIs (``/stations/{id}/kpi``), fetched per station and shift.

They serve as the cross-check of the dashboard's figures and as the source of the quality
rate (CWork's API exposes no good-part counts). Each run fetches, within its batch: first the
shifts running now (so the current shift's figures stay fresh), then finished shifts whose
figures are missing or were fetched before they ended, newest first, back to
``KPI_BACKFILL_DAYS``.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from cwork.client import CWorkClient
from cwork.errors import CWorkError, CWorkTransportError
from kpis.calendar import Calendars, occurrences
from kpis.models import CWorkFigures
from stations.models import Station
from stations.run_report import RunReport

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def sync_cwork_figures(
    client: CWorkClient, *, now: datetime | None = None, batch: int | None = None
) -> RunReport:
    now = now or timezone.now()
    batch = batch or settings.KPI_SYNC_BATCH
    # Runs come on a fixed cadence but read their clock a little late or early: a running
    # shift fetched one interval ago (give or take a tenth) is fetched again, not skipped.
    refresh_after = timedelta(seconds=settings.KPI_SYNC_INTERVAL * 0.9)
    calendars = Calendars()
    stations = list(Station.objects.filter(present_in_cwork=True, disabled=False))
    since = now - timedelta(days=settings.KPI_BACKFILL_DAYS)
    stored = {
        (station_id, start): (until, end, fetched_at)
        for station_id, start, until, end, fetched_at in CWorkFigures.objects.filter(
            start__gte=since - timedelta(days=1)
        ).values_list("station_id", "start", "until", "end", "fetched_at")
    }
    running: list[tuple[datetime, Station, datetime, datetime]] = []
    finished: list[tuple[datetime, Station, datetime, datetime]] = []
    for station in stations:
        spec = calendars.for_workshop(station.workshop)
        if not spec.configured:
            continue  # without a calendar there are no shifts to ask about
        for occ in occurrences(spec, since, now):
            if occ.start < since:
                continue
            known = stored.get((station.pk, occ.start))
            if occ.end > now:
                if known is None or now - known[2] >= refresh_after:
                    running.append((occ.start, station, occ.start, occ.end))
            elif known is None or known[0] < occ.end:
                finished.append((occ.end, station, occ.start, occ.end))
    finished.sort(key=lambda item: item[0], reverse=True)
    todo = (running + finished)[:batch]
    outcome = RunReport(stations_seen=len(stations))
    for _key, station, start, end in todo:
        until = min(end, now)
        try:
            answer = client.station_kpi(station.cwork_id, start, until)
        except CWorkTransportError:
            raise
        except CWorkError as exc:
            outcome.problems.append(f"station {station.cwork_id} ({station.name}): {exc}")
            continue
        CWorkFigures.objects.update_or_create(
            station=station,
            start=start,
            defaults={
                "end": end,
                "until": until,
                "fetched_at": now,
                "times": _values(answer.times),
                "rates": _values(answer.rates),
            },
        )
        outcome.rows_written += 1
    outcome.changes.update({"shifts": outcome.rows_written})
    return outcome


def _values(record: DataclassInstance) -> dict[str, float | int | None]:
    """A ``/kpi`` record's figures by name (not its ``extra``/``problems`` bookkeeping)."""
    skip = {"extra", "problems"}
    return {f.name: getattr(record, f.name) for f in fields(record) if f.name not in skip}
