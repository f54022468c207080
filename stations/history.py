"""Tops, alarms and program runs: synced per station from where the last sync stopped.

A station's ``history_synced_until`` only moves forward once its whole range is stored, so a
CWork outage leaves the cursor where it was and the next sync back-fills the gap. CWork's
answer is authoritative over the range it covers: local rows in that range that CWork no
longer lists (a merged top, a provisional program run) are removed, so the history has no
gaps, overlaps or duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from cwork.client import CWorkClient
from cwork.errors import CWorkError, CWorkTransportError
from stations.models import AlarmInterval, ProgramRun, State, Station, Top
from stations.run_report import RunReport


def sync_history(
    client: CWorkClient, *, now: datetime | None = None, batch: int | None = None
) -> RunReport:
    """Sync a batch of stations: those the live poll flagged first, then the longest unsynced.

    CWork unreachable fails the run (to back off); an error about one station is recorded
    and the others go on.
    """
    now = now or timezone.now()
    batch = batch or settings.HISTORY_SYNC_BATCH
    stations = list(
        Station.objects.filter(present_in_cwork=True).order_by(
            "-history_due", F("history_synced_until").asc(nulls_first=True), "id"
        )[:batch]
    )
    states = dict(State.objects.values_list("cwork_id", "id"))
    outcome = RunReport(stations_seen=len(stations))
    for station in stations:
        try:
            written = sync_station_history(client, station, states, now=now)
        except CWorkTransportError:
            raise
        except CWorkError as exc:
            outcome.problems.append(f"station {station.cwork_id} ({station.name}): {exc}")
            continue
        if written:
            outcome.stations_changed += 1
            outcome.rows_written += sum(written.values())
            outcome.changes.update(written)
    return outcome


def sync_station_history(
    client: CWorkClient, station: Station, states: dict[int, int], *, now: datetime
) -> dict[str, int]:
    """Fetch and store one station's history since its cursor; return rows written by kind."""
    since = station.history_synced_until or now - timedelta(days=settings.HISTORY_BACKFILL_DAYS)
    tops_from = _tops_from(station, since)
    tops = list(client.iter_tops(station.cwork_id, tops_from, now))
    alarms = client.station_alarms(station.cwork_id, since, now)
    running = client.running_programs(station.cwork_id, since, now)
    selected = client.selected_programs(station.cwork_id, since, now)
    # CWork's answer as of now is the record of every alarm and run begun by then, now
    # included: the live poll opens a provisional program run at its own now, which can be
    # this sync's, and CWork's record of that run begins earlier. Stored times are whole
    # microseconds, so the rows overlapping [since, now] are those overlapping this period.
    through_now = now + timedelta.resolution
    written: dict[str, int] = {}
    with transaction.atomic():
        written["tops"] = reconcile(
            Top.objects.filter(station=station, start__gte=tops_from, start__lt=now),
            station,
            ("start",),
            [
                {
                    "start": t.start,
                    "end": t.end,
                    "state_cwork_id": t.state_handle,
                    "state_id": states.get(t.state_handle),
                    "comment": t.comment,
                }
                for t in tops
            ],
        )
        written["alarms"] = reconcile(
            AlarmInterval.objects.filter(station=station).overlapping(since, through_now),
            station,
            ("code", "start"),
            [
                {"code": a.code, "start": a.start, "end": a.end, "message": a.message}
                for a in alarms
            ],
        )
        for kind, runs in (
            (ProgramRun.Kind.RUNNING, running),
            (ProgramRun.Kind.SELECTED, selected),
        ):
            written[f"{kind}_programs"] = reconcile(
                ProgramRun.objects.filter(station=station, kind=kind).overlapping(
                    since, through_now
                ),
                station,
                ("kind", "start"),
                [
                    {
                        "kind": kind,
                        "start": r.start,
                        "end": r.end,
                        "name": r.name,
                        "context": r.context,
                        "provisional": False,
                    }
                    for r in runs
                ],
            )
        Station.objects.filter(pk=station.pk).update(history_synced_until=now, history_due=False)
    return {kind: count for kind, count in written.items() if count}


def _tops_from(station: Station, since: datetime) -> datetime:
    """Re-read from the earliest top still open, and the one before it (CWork may merge)."""
    open_start = (
        Top.objects.filter(station=station, end=None, start__lt=since)
        .order_by("start")
        .values_list("start", flat=True)
        .first()
    )
    edge = min(since, open_start) if open_start else since
    before = (
        Top.objects.filter(station=station, start__lt=edge)
        .order_by("-start")
        .values_list("start", flat=True)
        .first()
    )
    return before or edge


def reconcile(
    local: models.QuerySet,
    station: Station,
    key: Sequence[str],
    incoming: Iterable[dict[str, Any]],
) -> int:
    """Make ``local`` (the rows in a range) equal ``incoming`` (CWork's rows for it).

    Rows are matched on ``key``; only rows that differ are written. Returns rows written.
    """
    incoming_by_key = {tuple(row[k] for k in key): row for row in incoming}
    values = sorted({name for row in incoming_by_key.values() for name in row} - set(key))
    model = local.model
    stored = {
        tuple(row[1 : 1 + len(key)]): (row[0], row[1 + len(key) :])
        for row in local.values_list("pk", *key, *values)
    }
    gone = [pk for k, (pk, _) in stored.items() if k not in incoming_by_key]
    create, update = [], []
    for k, row in incoming_by_key.items():
        found = stored.get(k)
        if found is None:
            create.append(model(station=station, **row))
        elif found[1] != tuple(row[name] for name in values):
            update.append(model(pk=found[0], station=station, **row))
    if gone:
        model.objects.filter(pk__in=gone).delete()
    # A row outside the range with the same key (an alarm re-listed with its first start)
    # is updated, not duplicated.
    if create:
        model.objects.bulk_create(
            create,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["station", *key],
            update_fields=values,
        )
    if update:
        model.objects.bulk_update(update, values, batch_size=500)
    return len(gone) + len(create) + len(update)
