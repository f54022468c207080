"""A station's stored alarms read by one rule (``stations.live_alarms``) wherever they are
shown or checked: the wall's tile, the overview, the station page and the alert rules, from
the same stored rows, odd ones among them (left out and logged, never an error page)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.template.loader import render_to_string

from alerts import engine
from alerts.models import Alert, AlertRule, Condition
from dashboard.overview import station_overview
from dashboard.station_page import station_detail
from dashboard.tiles import tile_for, tile_stations
from stations.jobs import run_job
from stations.live_alarms import LiveAlarm, decode_alarms
from stations.models import LiveStatus, State, Station

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SPINDLE = LiveAlarm("A17", "Spindle overload", datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
#: Stored by an older version without a time zone: read as UTC, as CWork's dates are.
DOOR = LiveAlarm("E2", "Door open", datetime(2026, 11, 24, 7, 30, tzinfo=UTC))
ODD_ROWS = [
    ["X9", "start unreadable", "not a date"],
    ["short"],
    "a string, not a row",
    {"code": "E5"},
    [None, "no code", "2026-11-24T08:10:00+00:00"],
]
STORED = [
    ["A17", "Spindle overload", "2026-11-24T08:00:00+00:00"],
    ODD_ROWS[0],
    ["E2", "Door open", "2026-11-24T07:30:00"],
    *ODD_ROWS[1:],
]


@pytest.fixture
def alarmed() -> Station:
    state = State.objects.create(cwork_id=1, name="Running", color="#00AA00", synced_at=NOW)
    station = Station.objects.create(cwork_id=7, name="Lathe 7", synced_at=NOW)
    LiveStatus.objects.create(
        station=station,
        state=state,
        state_cwork_id=1,
        since=NOW - timedelta(hours=1),
        alarms=STORED,
        changed_at=NOW,
    )
    return tile_stations().get(pk=station.pk)


def odd_rows_logged(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "stations.live_alarms" and r.levelno == logging.WARNING
    ]


def test_the_decoding_keeps_readable_rows_in_order_and_logs_each_odd_one(caplog):
    with caplog.at_level(logging.WARNING, "stations.live_alarms"):
        assert decode_alarms(STORED, station_id=7) == (SPINDLE, DOOR)
    logged = odd_rows_logged(caplog)
    assert len(logged) == len(ODD_ROWS)
    assert all(m.startswith("station 7:") for m in logged)
    assert decode_alarms(None) == decode_alarms([]) == ()
    assert decode_alarms({"not": "a list"}) == ()


def test_the_tile_and_the_overview_show_the_readable_alarms(alarmed, caplog):
    with caplog.at_level(logging.WARNING, "stations.live_alarms"):
        tile = tile_for(alarmed, stale=False, now=NOW)
    assert tile.alarms == (SPINDLE, DOOR)
    assert tile.alarm_count == 2
    assert tile.first_alarm == SPINDLE
    assert odd_rows_logged(caplog)

    pages: dict[str, dict[str, object]] = {
        "wall/_tile.html": {"tile": tile},
        "stations/_overview_rows.html": {"rows": station_overview("", NOW)},
    }
    for template, context in pages.items():
        html = render_to_string(template, context)
        assert "A17 Spindle overload" in html, template
        assert "+1 alarm" in html, template
        assert "X9" not in html, template
        assert "no code" not in html, template


def test_the_station_page_lists_the_readable_alarms_newest_first(alarmed):
    detail = station_detail(alarmed, NOW)
    assert [(a.code, a.message, a.start) for a in detail.active_alarms] == [
        (SPINDLE.code, SPINDLE.message, SPINDLE.start),
        (DOOR.code, DOOR.message, DOOR.start),
    ]
    assert [a.duration_text for a in detail.active_alarms] == ["1 h 00 min", "1 h 30 min"]

    html = render_to_string("stations/_station_live.html", {"tile": detail.tile, "now": NOW})
    assert html.count('class="alarm-code"') == 2
    assert f'data-since="{SPINDLE.start.isoformat()}"' in html
    assert f'data-since="{DOOR.start.isoformat()}"' in html
    assert ">1 h 30 min</time>" in html  # drawn as the page's ticking script goes on
    assert "X9" not in html


def test_an_alarm_rule_reads_the_same_alarms(alarmed):
    engine.forget_cached()
    AlertRule.objects.create(name="Door", condition=Condition.ALARM, alarm_code="e2", minutes=5)
    AlertRule.objects.create(
        name="Unreadable", condition=Condition.ALARM, alarm_code="X9", minutes=0
    )
    engine.evaluate(NOW)
    alert = Alert.objects.get()
    assert alert.rule.name == "Door"
    assert alert.since == DOOR.start  # the naive start read as UTC, not an error
    assert "E2 Door open" in alert.summary
    assert alert.status == Alert.Status.FIRING


def test_the_live_poll_replaces_odd_stored_rows_instead_of_failing(sim, cwork, clock):
    assert run_job("live", client=cwork, now=clock(), publish=lambda e: None).ok
    LiveStatus.objects.update(alarms=STORED)
    result = run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    assert result.ok, result.reason
    for live in LiveStatus.objects.all():
        handle = live.station.cwork_id
        reported = sim.world.status(handle).alarms
        assert live.alarms == [[a.code, a.message, a.start.isoformat()] for a in reported]
        decoded = tuple(LiveAlarm(a.code, a.message, a.start) for a in reported)
        assert live.active_alarms() == decoded
