"""Parts made, counted by the live poll: CWork's API keeps no history of part counts.

Each poll that sees a station's total part count go up adds the difference to that station's
tally for the current quarter hour, under the job it was running and its reference time per
part. Parts made while CWork could not be reached are counted when it answers again, in that
quarter hour: none is lost, some may land a little late.

The live poll tells what it wrote through ``stations.signals.poll_rows_written``, inside its
transaction (:func:`count_parts`, connected in ``kpis.apps``): a tally is committed with the
statuses it was counted from, so a poll's parts are counted once, never lost nor doubled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kpis.models import PartCounting, PartTally
from stations.signals import StatusWritten

SLOT = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class PartsSeen:
    """One station's count as one poll saw it, with the count the poll before saw."""

    station_id: int
    before: int | None
    after: int | None
    order: str
    job: str
    reference: str
    job_cycle_time: int | None


def slot_of(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def count_parts(
    sender: Any, *, rows: Iterable[StatusWritten], now: datetime, **_kwargs: Any
) -> int:
    """``poll_rows_written``'s receiver: the parts made since the last poll (CWork keeps no
    part-count history); returns the rows written."""
    seen = [
        PartsSeen(
            station_id=row.station_id,
            before=row.before["total_parts"] if row.before is not None else None,
            after=row.after["total_parts"],
            order=row.after["order"],
            job=row.after["job"],
            reference=row.after["reference"],
            job_cycle_time=row.after["job_cycle_time"],
        )
        for row in rows
        if row.before is None or "total_parts" in row.fields
    ]
    return record_parts(seen, now) if seen else 0


def record_parts(seen: Iterable[PartsSeen], now: datetime) -> int:
    """Add what each station made since the last poll; returns the rows written."""
    made: dict[tuple[int, str, str, str], int] = {}
    cycles: dict[tuple[int, str, str, str], int | None] = {}
    first_seen: list[int] = []
    for item in seen:
        if item.after is None:
            continue
        if item.before is None:
            first_seen.append(item.station_id)
            continue
        if item.after > item.before:  # a count that goes down was reset: nothing made
            key = (item.station_id, item.order, item.job, item.reference)
            made[key] = made.get(key, 0) + item.after - item.before
            cycles[key] = item.job_cycle_time
    written = 0
    if first_seen:
        written += len(
            PartCounting.objects.bulk_create(
                [PartCounting(station_id=sid, since=now) for sid in first_seen],
                ignore_conflicts=True,
            )
        )
    if not made:
        return written

    per_cycle = _parts_per_cycle({(order, job) for _sid, order, job, _ref in made})
    slot = slot_of(now)
    existing = {
        (t.station_id, t.order, t.job, t.reference): t
        for t in PartTally.objects.filter(slot=slot, station_id__in={k[0] for k in made})
    }
    rows = []
    for key, parts in made.items():
        station_id, order, job, reference = key
        tally = existing.get(key) or PartTally(
            station_id=station_id, slot=slot, order=order, job=job, reference=reference
        )
        tally.parts += parts
        cycle = cycles[key]
        tally.cycle_time = cycle / per_cycle.get((order, job), 1) if cycle else None
        rows.append(tally)
    PartTally.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["station", "slot", "order", "job", "reference"],
        update_fields=["parts", "cycle_time"],
    )
    return written + len(rows)


def _parts_per_cycle(keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Parts each cycle makes, from the order's operation named as the job (1 if unknown)."""
    return {
        key: op.parts_per_cycle
        for key, ops in operations_of_jobs(keys).items()
        for op in ops
        if op.parts_per_cycle and op.parts_per_cycle > 0
    }


#: Order names per query: an OR of thousands of (order, job) pairs is too deep for SQLite.
_BATCH = 500


def operations_of_jobs(keys: set[tuple[str, str]]) -> dict[tuple[str, str], list]:
    """The operations named as each (order name, job) pair, read by order name in batches."""
    from stations.models import Operation

    found: dict[tuple[str, str], list] = {}
    orders = sorted({order for order, _job in keys})
    for i in range(0, len(orders), _BATCH):
        rows = Operation.objects.filter(order__name__in=orders[i : i + _BATCH]).select_related(
            "order"
        )
        for op in rows:
            if op.order is None:  # (the query names orders: never)
                continue
            key = (op.order.name, op.name)
            if key in keys:
                found.setdefault(key, []).append(op)
    return found
