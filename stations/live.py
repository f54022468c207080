"""The live poll: every station's status, compared with what is stored; only changes written.

The cost that matters is the cycle where nothing changed (most of them): one request, the
parse, two indexed reads and a comparison of tuples; no write and no event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cwork.client import CWorkClient
from cwork.models import StationStatus
from stations.catalogue import sync_catalogue
from stations.events import StationChange, StationsChanged
from stations.live_alarms import decode_alarms, stored_alarms
from stations.models import AlarmInterval, LiveStatus, ProgramRun, State, Station
from stations.run_report import RunReport
from stations.signals import StatusWritten, poll_rows_written

#: The live-status fields compared each cycle, in the order of ``status_row``.
FIELDS = (
    "state_cwork_id",
    "since",
    "comment",
    "reference",
    "order",
    "job",
    "job_cycle_time",
    "part_target",
    "total_parts",
    "parts_since_reset",
    "running_program",
    "selected_program",
    "alarms",
)
#: Field names as the change events tell them (``state`` rather than ``state_cwork_id``).
EVENT_NAMES = {"state_cwork_id": "state", "since": "state"}
#: Positions, in a stored row, of the two columns that follow ``FIELDS``.
_MISSING, _COUNTING = len(FIELDS), len(FIELDS) + 1
_PARTS, _JOB, _ORDER = FIELDS.index("parts_since_reset"), FIELDS.index("job"), FIELDS.index("order")
HISTORY_FIELDS = {"state_cwork_id", "since", "alarms", "running_program", "selected_program"}


def status_row(status: StationStatus) -> tuple[Any, ...]:
    return (
        status.state.handle,
        status.last_top,
        status.comment,
        status.reference,
        status.order,
        status.job,
        status.job_cycle_time,
        status.part_target,
        status.total_parts,
        status.parts_since_reset,
        status.running_program or "",
        status.selected_program or "",
        stored_alarms(status.alarms),
    )


def poll_live(client: CWorkClient, *, now: datetime | None = None) -> RunReport:
    """Read every status from CWork and store what changed; raise if CWork cannot answer."""
    statuses = client.station_statuses()
    now = now or timezone.now()
    outcome = RunReport(stations_seen=len(statuses))
    outcome.problems.extend(f"status record {r.index}: {r.reason}" for r in statuses.rejected)

    stations, states = _catalogue_ids()
    if any(s.station_id not in stations or s.state.handle not in states for s in statuses):
        # A station or state CWork just added: learn it now rather than at the next sync.
        sync_catalogue(client, now=now)
        stations, states = _catalogue_ids()

    stored = {
        row[0]: row[1:]
        for row in LiveStatus.objects.values_list(
            "station_id", *FIELDS, "missing_since", "counting_since"
        )
    }
    changed: list[tuple[int, int, tuple[Any, ...], tuple[str, ...], tuple[Any, ...] | None]] = []
    reported: set[int] = set()
    for status in statuses:
        cwork_id = status.station_id
        station_id = None if cwork_id is None else stations.get(cwork_id)
        if cwork_id is None or station_id is None:
            outcome.problems.append(f"station {cwork_id}: not in CWork's station list")
            continue
        reported.add(station_id)
        row = status_row(status)
        old = stored.get(station_id)
        if old is None:
            changed.append((station_id, cwork_id, row, ("new",), None))
            continue
        if old[:_MISSING] != row or old[_MISSING] is not None:
            names = tuple(name for name, a, b in zip(FIELDS, old, row, strict=False) if a != b)
            if old[_MISSING] is not None:
                names += ("reporting",)
            changed.append((station_id, cwork_id, row, names, old))

    newly_missing = [
        station_id
        for station_id, old in stored.items()
        if station_id not in reported and old[_MISSING] is None
    ]
    if not changed and not newly_missing:
        return outcome

    with transaction.atomic():
        outcome.rows_written += _write_statuses(changed, states, now)
        outcome.rows_written += _write_history(changed, now)
        if newly_missing:
            outcome.rows_written += LiveStatus.objects.filter(station_id__in=newly_missing).update(
                missing_since=now
            )
        # In the transaction: what other apps write from these rows stands or falls with them.
        outcome.rows_written += _rows_written(changed, newly_missing, now)
    cwork_ids = {v: k for k, v in stations.items()}
    events = [
        StationChange(station_id, cwork_id, _event_fields(names))
        for station_id, cwork_id, _, names, _ in changed
    ]
    events += [StationChange(sid, cwork_ids[sid], ("reporting",)) for sid in newly_missing]
    for change in events:
        outcome.changes.update(change.fields)
    outcome.stations_changed = len(events)
    outcome.event = StationsChanged(at=now, changes=tuple(events))
    return outcome


def _catalogue_ids() -> tuple[dict[int, int], dict[int, int]]:
    """CWork id to our id, for stations and for states (unsorted: they only fill dicts)."""
    stations = dict(Station.objects.order_by().values_list("cwork_id", "id"))
    states = dict(State.objects.order_by().values_list("cwork_id", "id"))
    return stations, states


def _event_fields(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(EVENT_NAMES.get(name, name) for name in names))


def _write_statuses(changed: list[Any], states: dict[int, int], now: datetime) -> int:
    new: list[LiveStatus] = []
    updated: list[LiveStatus] = []
    for station_id, _, row, _names, old in changed:
        live = LiveStatus(
            station_id=station_id,
            changed_at=now,
            missing_since=None,
            counting_since=_counting_since(old, row, now),
        )
        for name, value in zip(FIELDS, row, strict=True):
            setattr(live, name, value)
        live.state_id = states.get(row[0])
        (new if old is None else updated).append(live)
    LiveStatus.objects.bulk_create(new, batch_size=500)
    # Every column of a changed row is rewritten, so an upsert (INSERT ... ON CONFLICT DO
    # UPDATE) does what bulk_update would, without its CASE WHEN per field and row: building
    # those took about 3 ms a row, 0.3 s a cycle when 100 stations changed.
    LiveStatus.objects.bulk_create(
        updated,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["station"],
        update_fields=[*FIELDS, "state", "changed_at", "missing_since", "counting_since"],
    )
    return len(new) + len(updated)


def _counting_since(
    old: tuple[Any, ...] | None, row: tuple[Any, ...], now: datetime
) -> datetime | None:
    """A new job or a part count that went down starts the count afresh: the pace is
    measured from then. A station first seen mid-job has no known start."""
    if old is None:
        return None
    restarted = (old[_JOB], old[_ORDER]) != (row[_JOB], row[_ORDER]) or (
        row[_PARTS] is not None and old[_PARTS] is not None and row[_PARTS] < old[_PARTS]
    )
    return now if restarted else old[_COUNTING]


def _rows_written(changed: list[Any], missing: list[int], now: datetime) -> int:
    """Tell ``poll_rows_written``'s receivers what was written; the rows they wrote."""
    rows = tuple(
        StatusWritten(
            station_id=station_id,
            fields=names,
            before=None if old is None else dict(zip(FIELDS, old, strict=False)),
            after=dict(zip(FIELDS, row, strict=True)),
        )
        for station_id, _, row, names, old in changed
    )
    # django-stubs types a receiver's answer as str | None; these answer a count of rows.
    answers: list[tuple[Any, Any]] = poll_rows_written.send(
        LiveStatus, rows=rows, missing=tuple(missing), now=now
    )
    return sum(written for _receiver, written in answers if isinstance(written, int))


def _write_history(changed: list[Any], now: datetime) -> int:
    """Open and close alarm and program intervals for the stations whose ones changed."""
    written = 0
    due: list[int] = []
    opened_alarms: list[AlarmInterval] = []
    closed_alarms = Q()
    closed_programs = Q()
    opened_programs: list[ProgramRun] = []
    index = {name: i for i, name in enumerate(FIELDS)}
    for station_id, _, row, names, old in changed:
        if HISTORY_FIELDS.intersection(names) or old is None:
            due.append(station_id)
        if "alarms" in names or old is None:
            stored = decode_alarms(old[index["alarms"]] if old else (), station_id=station_id)
            before = {(a.code, a.start) for a in stored}
            alarms = decode_alarms(row[index["alarms"]], station_id=station_id)
            after = {(a.code, a.start) for a in alarms}
            for alarm in alarms:
                if (alarm.code, alarm.start) not in before:
                    opened_alarms.append(
                        AlarmInterval(
                            station_id=station_id,
                            code=alarm.code,
                            message=alarm.message,
                            start=alarm.start,
                        )
                    )
            for code, start in before - after:
                closed_alarms |= Q(station_id=station_id, code=code, start=start)
        for kind, field in (
            (ProgramRun.Kind.RUNNING, "running_program"),
            (ProgramRun.Kind.SELECTED, "selected_program"),
        ):
            if field in names and old is not None:
                closed_programs |= Q(station_id=station_id, kind=kind)
                if row[index[field]]:
                    opened_programs.append(
                        ProgramRun(
                            station_id=station_id,
                            kind=kind,
                            name=row[index[field]],
                            start=now,
                            provisional=True,
                        )
                    )
    if closed_alarms:
        written += AlarmInterval.objects.filter(closed_alarms, end=None).update(end=now)
    if closed_programs:
        written += ProgramRun.objects.filter(closed_programs, end=None).update(end=now)
    written += len(AlarmInterval.objects.bulk_create(opened_alarms, ignore_conflicts=True))
    written += len(ProgramRun.objects.bulk_create(opened_programs, ignore_conflicts=True))
    if due:
        Station.objects.filter(id__in=due, history_due=False).update(history_due=True)
    return written
