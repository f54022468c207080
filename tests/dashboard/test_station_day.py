"""The station page's day: the alarms, programs and states that overlap it (half-open, from
midnight to now), read like the KPIs read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.station_page import day_bounds, station_detail
from stations.models import AlarmInterval, ProgramRun, Station

pytestmark = pytest.mark.django_db

SYNCED = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def station() -> Station:
    return Station.objects.create(cwork_id=1, name="Lathe 1", synced_at=SYNCED)


def test_the_days_cleared_alarms_are_those_overlapping_midnight_to_now(station):
    midnight, _ = day_bounds(NOW)
    for code, start, end in [
        ("CLEARED-AT-MIDNIGHT", midnight - HOUR, midnight),
        ("ACROSS-MIDNIGHT", midnight - HOUR, midnight + HOUR),
        ("FROM-NOW", NOW, NOW + HOUR),  # recorded ahead of the page's clock
        ("ACTIVE", midnight + HOUR, None),  # the live status lists it, not the cleared ones
    ]:
        AlarmInterval.objects.create(station=station, code=code, start=start, end=end)

    day = station_detail(station, NOW)

    assert [a.code for a in day.past_alarms] == ["ACROSS-MIDNIGHT"]
    assert day.past_alarm_count == 1


def test_the_days_programs_are_those_overlapping_midnight_to_now(station):
    midnight, _ = day_bounds(NOW)
    for kind, name, start, end in [
        ("running", "O-ENDED-AT-MIDNIGHT", midnight - HOUR, midnight),
        ("running", "O-RUNNING", midnight - HOUR / 2, None),
        ("running", "O-FROM-NOW", NOW, None),
        ("selected", "O-SELECTED", midnight + HOUR, NOW - HOUR),
        ("selected", "O-SELECTED-AT-MIDNIGHT", midnight - 2 * HOUR, midnight),
    ]:
        ProgramRun.objects.create(station=station, kind=kind, name=name, start=start, end=end)

    day = station_detail(station, NOW)

    assert [(r.name, r.active) for r in day.running_programs] == [("O-RUNNING", True)]
    assert [r.name for r in day.selected_programs] == ["O-SELECTED"]
