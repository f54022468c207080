"""Write a set of records keyed by CWork id, touching only rows whose values differ."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import models


def upsert_by_cwork_id(
    model: type[models.Model],
    records: Mapping[int, Mapping[str, Any]],
    *,
    now: datetime,
    scope: Iterable[int] | None = None,
) -> tuple[int, int]:
    """Create, update and mark absent rows; return (rows created or updated, rows dropped).

    ``records`` maps each CWork id to its field values. Rows CWork no longer lists are kept
    (history points at them) with ``present_in_cwork`` false.
    """
    manager = model._default_manager  # ``objects``: these models declare no other manager
    fields = sorted({name for values in records.values() for name in values})
    existing = {
        row[0]: row[1:]
        for row in manager.values_list("cwork_id", "pk", "present_in_cwork", *fields)
    }
    create, update = [], []
    for cwork_id, values in records.items():
        row = existing.get(cwork_id)
        wanted = tuple(values.get(name) for name in fields)
        if row is None:
            create.append(model(cwork_id=cwork_id, synced_at=now, **values))
        elif not row[1] or row[2:] != wanted:
            update.append(
                model(pk=row[0], cwork_id=cwork_id, synced_at=now, present_in_cwork=True, **values)
            )
    manager.bulk_create(create, batch_size=500)
    manager.bulk_update(update, [*fields, "synced_at", "present_in_cwork"], batch_size=500)
    gone = [
        cwork_id
        for cwork_id, row in existing.items()
        if row[1] and cwork_id not in records and (scope is None or cwork_id in scope)
    ]
    dropped = 0
    if gone:
        dropped = manager.filter(cwork_id__in=gone).update(present_in_cwork=False, synced_at=now)
    return len(create) + len(update), dropped
