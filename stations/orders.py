"""Orders and operations (CWork's PROD licence)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from cwork.client import CWorkClient
from cwork.models import Operation as CWorkOperation
from stations.models import Operation, Order, Station
from stations.run_report import RunReport
from stations.upsert import upsert_by_cwork_id


def sync_orders(client: CWorkClient, *, now: datetime | None = None) -> RunReport:
    """Every valid order and its operations. A missing licence raises ``CWorkLicenseError``."""
    now = now or timezone.now()
    orders = client.orders()
    operations: list[CWorkOperation] = []
    outcome = RunReport()
    outcome.problems += [f"order record {r.index}: {r.reason}" for r in orders.rejected]
    for order in orders:
        found = client.operations(order_id=order.order_id)
        outcome.problems += [
            f"operation record {r.index} of order {order.order_id}: {r.reason}"
            for r in found.rejected
        ]
        operations.extend(found)
    with transaction.atomic():
        written, dropped = upsert_by_cwork_id(
            Order,
            {
                o.order_id: {
                    "name": o.name,
                    "created": o.created,
                    "description": o.description,
                    "part_reference": o.part_reference,
                    "client": o.client,
                    "current_state": o.current_state,
                    "valid": o.valid,
                    "archived": o.archived,
                }
                for o in orders
            },
            now=now,
            scope=None if not orders.rejected else (),
        )
        outcome.changes.update(orders=written, orders_dropped=dropped)
        # Looked up by ids CWork may leave out (None): those operations get no order or station.
        order_ids: dict[int | None, int] = dict(Order.objects.values_list("cwork_id", "id"))
        station_ids: dict[int | None, int] = dict(Station.objects.values_list("cwork_id", "id"))
        written_ops, dropped_ops = upsert_by_cwork_id(
            Operation,
            {
                op.operation_id: {
                    "order_id": order_ids.get(op.order_id),
                    "station_id": station_ids.get(op.station_id),
                    "name": op.name,
                    "created": op.created,
                    "description": op.description,
                    "document_id": op.document_id,
                    "current_state": op.current_state,
                    "parts_to_make": op.parts_to_make,
                    "parts_made": op.parts_made,
                    "parts_per_cycle": op.parts_per_cycle,
                    "cycle_time": op.cycle_time,
                }
                for op in operations
            },
            now=now,
            scope=None if not outcome.problems else (),
        )
        outcome.changes.update(operations=written_ops, operations_dropped=dropped_ops)
    outcome.changes = +outcome.changes
    outcome.rows_written = written + dropped + written_ops + dropped_ops
    return outcome
