"""The KPIs, the review's timeline and its alarm Pareto read the intervals that overlap the
period the same half-open way: one that ends at its start or begins at its end is out, one
still open is in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kpis.engine import station_kpis
from kpis.models import CWorkFigures
from kpis.pareto import alarm_pareto
from kpis.timeline import build_timeline
from stations.models import AlarmInterval, ProgramRun, Station

pytestmark = pytest.mark.django_db

SYNCED = datetime(2026, 1, 1, tzinfo=UTC)
START = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
END = START + timedelta(hours=8)
NOW = END + timedelta(hours=2)
HOUR = timedelta(hours=1)


@pytest.fixture
def station() -> Station:
    return Station.objects.create(cwork_id=1, name="Lathe 1", synced_at=SYNCED)


def alarms_at_the_edges(station: Station) -> None:
    for code, start, end in [
        ("ENDS-AT-START", START - HOUR, START),
        ("STARTS-AT-END", END, END + HOUR),
        ("OPEN", END - HOUR, None),
    ]:
        AlarmInterval.objects.create(station=station, code=code, start=start, end=end)


def test_the_alarm_pareto_counts_only_alarms_overlapping_the_period(station):
    alarms_at_the_edges(station)

    pareto = alarm_pareto([station], START, END, now=NOW)

    assert [(b.label, b.count, b.value) for b in pareto.bars] == [("OPEN", 1, 3600.0)]


def test_the_timelines_alarm_lane_holds_only_alarms_overlapping_the_period(station):
    alarms_at_the_edges(station)

    (row,) = build_timeline([station], START, END, now=NOW).rows

    assert [(b.label, b.start, b.end) for b in row.alarms] == [("OPEN", END - HOUR, END)]


def test_the_timelines_program_lane_holds_only_runs_overlapping_the_period(station):
    for name, start, end in [
        ("O-ENDS-AT-START", START - HOUR, START),
        ("O-OPEN", START + HOUR, None),
        ("O-STARTS-AT-END", END, END + HOUR),
    ]:
        ProgramRun.objects.create(
            station=station, kind=ProgramRun.Kind.RUNNING, name=name, start=start, end=end
        )

    (row,) = build_timeline([station], START, END, now=NOW).rows

    assert [(b.label, b.start, b.end) for b in row.programs] == [("O-OPEN", START + HOUR, END)]


def test_the_kpis_read_cworks_figures_of_the_shifts_overlapping_the_period(station):
    """CWork's figures are per shift and always closed: the shift before the period (ending
    at its start) and the one after it (starting at its end) are not the period's."""
    for start in (START - (END - START), START, END):
        CWorkFigures.objects.create(
            station=station,
            start=start,
            end=start + (END - START),
            until=start + (END - START),
            fetched_at=NOW,
            times={"nrt": 100.0, "fpt": 90.0},
        )

    (row,) = station_kpis([station], START, END, now=NOW).rows

    assert row.sources["quality"] == "CWork's quality rate over 1 shifts"
