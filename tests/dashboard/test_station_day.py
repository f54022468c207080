"""The station page's day: the alarms, programs and states that overlap it (half-open, from
midnight to now), read like the KPIs read them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.template.loader import render_to_string

from dashboard.station_page import day_bounds, station_detail
from kpis import mapping
from kpis.engine import station_kpis
from kpis.intervals import state_pieces
from stations.models import AlarmInterval, LiveStatus, ProgramRun, State, Station, Top

pytestmark = pytest.mark.django_db

SYNCED = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PRODUCTION, BREAKDOWN, WAITING = 10, mapping.BREAKDOWN_CWORK_ID, 3


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


def state(cwork_id: int, name: str, category: int, color: str = "#123456") -> State:
    return State.objects.create(
        cwork_id=cwork_id, name=name, color=color, oee_category=category, synced_at=SYNCED
    )


def top(station: Station, start: datetime, end: datetime | None, state_id: int) -> Top:
    """A top as the history sync stores it: by CWork's state id, and linked to its state."""
    return Top.objects.create(
        station=station,
        start=start,
        end=end,
        state_cwork_id=state_id,
        state=State.objects.get(cwork_id=state_id),
    )


def marks_drawn(station: Station) -> list[tuple[str, str]]:
    """(state, mark) of each stretch of the page's day bar."""
    day = station_detail(station, NOW)
    html = render_to_string("stations/_station_day.html", {"day": day, "station": station})
    return re.findall(r'data-state="([^"]*)" data-mark="([^"]*)"', html)


def test_the_station_day_and_the_kpis_see_the_same_intervals(station):
    state(PRODUCTION, "Production", 4)
    state(BREAKDOWN, "Breakdown", 2)
    midnight, day_end = day_bounds(NOW)
    top(station, midnight - 3 * HOUR, None, PRODUCTION)  # left open, ends where the next starts
    top(station, midnight + HOUR, midnight + 2 * HOUR, BREAKDOWN)
    top(station, midnight + 3 * HOUR, None, PRODUCTION)  # a hole before it: no data
    # The live poll has seen a breakdown the history sync has not stored yet.
    LiveStatus.objects.create(
        station=station,
        state=State.objects.get(cwork_id=BREAKDOWN),
        state_cwork_id=BREAKDOWN,
        since=NOW - HOUR,
        changed_at=NOW - HOUR,
        comment="spindle",
    )

    day = station_detail(station, NOW)
    (kpis,) = station_kpis([station], midnight, day_end, now=NOW).rows

    pieces = state_pieces([station.pk], midnight, day_end, NOW)[station.pk]
    assert [(b.start, b.end, b.label) for b in day.timeline if b.known] == [
        (max(p.start, midnight), min(p.end, NOW), State.objects.get(cwork_id=p.state_cwork_id).name)
        for p in pieces
    ]
    assert [(b.start, b.end, b.label, b.ongoing) for b in day.timeline] == [
        (midnight, midnight + HOUR, "Production", False),
        (midnight + HOUR, midnight + 2 * HOUR, "Breakdown", False),
        (midnight + 2 * HOUR, midnight + 3 * HOUR, "No data", False),
        (midnight + 3 * HOUR, NOW - HOUR, "Production", False),
        (NOW - HOUR, NOW, "Breakdown", True),
    ]

    def seconds(label: str) -> float:
        return sum((b.duration for b in day.timeline if b.label == label), timedelta()) / (
            timedelta(seconds=1)
        )

    assert kpis.kpis.rt == seconds("Production")
    assert kpis.kpis.ft == seconds("Breakdown")
    assert kpis.kpis.no_data == seconds("No data")


def test_a_renamed_state_keeps_its_mark_on_the_station_day(station):
    state(PRODUCTION, "Production", 4)
    top(station, NOW - 2 * HOUR, None, PRODUCTION)
    assert marks_drawn(station) == [("Production", "production")]
    mapping.cached_state_buckets()  # the process's copy of the mapping, read before the rename
    # The catalogue sync writes in bulk: no signal tells this process's copy.
    State.objects.filter(cwork_id=PRODUCTION).update(name="Running")

    assert marks_drawn(station) == [("Running", "production")]


def test_two_states_of_one_name_keep_their_own_marks_on_the_station_day(station):
    state(BREAKDOWN, "Stop", 2)  # CWork's Breakdown: a failure
    state(WAITING, "Stop", 3)  # an induced stop
    top(station, NOW - 3 * HOUR, NOW - 2 * HOUR, BREAKDOWN)
    top(station, NOW - 2 * HOUR, None, WAITING)

    assert marks_drawn(station) == [("Stop", "failure"), ("Stop", "induced_stop")]
    totals = station_detail(station, NOW).totals
    assert sorted((t.state_name, t.mark, t.duration) for t in totals) == [
        ("Stop", "failure", HOUR),
        ("Stop", "induced_stop", 2 * HOUR),
    ]
