"""A busy plant has thousands of jobs in a month: reviews and the part tally must not choke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from kpis.models import PartTally
from kpis.review import parts_lines
from kpis.tally import PartsSeen, record_parts
from stations.models import Operation, Order, Station

pytestmark = pytest.mark.django_db

JOBS = 1500  # an OR of this many (order, job) pairs is deeper than SQLite accepts
START = datetime(2026, 11, 2, tzinfo=UTC)


def plant(stations: int) -> list[Station]:
    now = timezone.now()
    Station.objects.bulk_create(
        Station(cwork_id=i, name=f"M{i}", synced_at=now) for i in range(1, stations + 1)
    )
    orders = Order.objects.bulk_create(
        Order(cwork_id=i, name=f"O{i}", synced_at=now) for i in range(JOBS)
    )
    Operation.objects.bulk_create(
        Operation(
            cwork_id=i,
            order=order,
            name="10",
            parts_to_make=100,
            parts_made=40,
            parts_per_cycle=2,
            synced_at=now,
        )
        for i, order in enumerate(orders)
    )
    return list(Station.objects.order_by("cwork_id"))


def test_a_month_with_thousands_of_jobs_lists_their_parts_and_targets():
    station = plant(1)[0]
    PartTally.objects.bulk_create(
        PartTally(
            station=station,
            slot=START + timedelta(minutes=15 * i),
            order=f"O{i}",
            job="10",
            cycle_time=30,
            parts=3,
        )
        for i in range(JOBS)
    )
    lines = parts_lines([station.pk], START, START + timedelta(days=30))
    assert len(lines) == JOBS
    assert all((line.parts, line.parts_to_make, line.parts_made) == (3, 100, 40) for line in lines)


def test_a_poll_where_every_station_made_parts_of_its_own_job_is_counted():
    stations = plant(JOBS)
    now = START + timedelta(hours=1)
    seen = [
        PartsSeen(
            s.pk, before=10, after=14, order=f"O{i}", job="10", reference="R", job_cycle_time=60
        )
        for i, s in enumerate(stations)
    ]
    assert record_parts(seen, now) == JOBS
    tallies = PartTally.objects.all()
    assert tallies.count() == JOBS
    # 60 s per cycle of 2 parts: 30 s per part, from each job's own operation.
    assert set(tallies.values_list("parts", "cycle_time")) == {(4, 30.0)}
