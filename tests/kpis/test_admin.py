"""Shift calendars are set up in the admin, end to end, and the KPIs follow them."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from kpis.calendar import Calendars, shift_at
from kpis.mapping import state_buckets
from kpis.models import Calendar, PartTally, StateBucket
from stations.models import State, Station

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("boss", password="x" * 12)
    client.force_login(user)
    return client


@pytest.fixture
def stations():
    now = timezone.now()
    Station.objects.create(cwork_id=1, name="Lathe", workshop="Hall A", synced_at=now)
    Station.objects.create(cwork_id=2, name="Mill", workshop="Hall B", synced_at=now)


def inline(prefix: str, rows: list[dict[str, str]]) -> dict[str, str]:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{key}": value for key, value in row.items()})
    return data


WEEKDAYS = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday"), "on")


def test_a_calendar_with_a_night_shift_is_made_in_the_admin(admin_client, stations):
    page = admin_client.get("/admin/kpis/calendar/add/")
    assert page.status_code == 200
    assert "Hall A" in page.content.decode()  # workshops are offered from the stations

    response = admin_client.post(
        "/admin/kpis/calendar/add/",
        {
            "name": "2 shifts and a night",
            "workshops": ["Hall A"],
            **inline(
                "shifts",
                [
                    {"name": "Day", "start": "06:00", "end": "14:00", **WEEKDAYS},
                    {"name": "Night", "start": "22:00", "end": "06:00", **WEEKDAYS},
                ],
            ),
            **inline("exceptions", [{"date": "2026-12-25", "kind": "closed", "name": "Xmas"}]),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    calendar = Calendar.objects.get(name="2 shifts and a night")
    assert calendar.workshops == ["Hall A"]

    spec = Calendars().for_workshop("Hall A")
    # Tuesday 2026-11-24, 23:30 in Paris is 22:30 UTC: inside Tuesday's night shift.
    running = shift_at(spec, datetime(2026, 11, 24, 22, 30, tzinfo=UTC))
    assert running is not None
    assert (running.name, running.day.isoformat()) == ("Night", "2026-11-24")
    # Christmas is closed: no shift runs at noon.
    assert shift_at(spec, datetime(2026, 12, 25, 11, 0, tzinfo=UTC)) is None
    # The other workshop has no calendar: open all the time, and said so.
    assert not Calendars().for_workshop("Hall B").configured


def test_a_workshop_cannot_follow_two_calendars(admin_client, stations):
    Calendar.objects.create(name="3×8", workshops=["Hall A"])
    response = admin_client.post(
        "/admin/kpis/calendar/add/",
        {
            "name": "Other",
            "workshops": ["Hall A"],
            **inline("shifts", []),
            **inline("exceptions", []),
        },
    )
    assert response.status_code == 200
    assert "Already in another calendar: Hall A (3×8)" in response.content.decode()
    assert not Calendar.objects.filter(name="Other").exists()


def test_a_shift_that_starts_and_ends_at_once_is_refused(admin_client, stations):
    response = admin_client.post(
        "/admin/kpis/calendar/add/",
        {
            "name": "Broken",
            **inline("shifts", [{"name": "Day", "start": "06:00", "end": "06:00", **WEEKDAYS}]),
            **inline("exceptions", []),
        },
    )
    assert response.status_code == 200
    assert "cannot start and end at the same time" in response.content.decode()
    assert not Calendar.objects.filter(name="Broken").exists()


def test_a_state_can_be_counted_differently_from_its_cwork_category(admin_client):
    State.objects.create(cwork_id=3, name="Waiting", oee_category=3, synced_at=timezone.now())
    assert state_buckets()[3] == "induced_stop"
    response = admin_client.post(
        "/admin/kpis/statebucket/add/", {"state_cwork_id": "3", "bucket": "disengaged"}
    )
    assert response.status_code == 302
    assert StateBucket.objects.get().bucket == "disengaged"
    assert state_buckets()[3] == "disengaged"
    assert "Waiting" in admin_client.get("/admin/kpis/statebucket/").content.decode()
    # The states' own page tells where each one's time now goes.
    states = admin_client.get("/admin/stations/state/").content.decode()
    assert "disengaged (break, maintenance: outside required)" in states


def test_counted_parts_are_shown_but_not_editable(admin_client, stations):
    station = Station.objects.get(cwork_id=1)
    PartTally.objects.create(
        station=station, slot=datetime(2026, 11, 24, 8, 0, tzinfo=UTC), parts=12, cycle_time=40
    )
    assert admin_client.get("/admin/kpis/parttally/").status_code == 200
    assert admin_client.get("/admin/kpis/parttally/add/").status_code == 403


def test_break_times_are_kept_on_the_shift(admin_client, stations):
    calendar = Calendar.objects.create(name="Day", workshops=["Hall B"])
    shift = calendar.shifts.create(name="Day", start=time(7, 30), end=time(16))
    response = admin_client.post(
        f"/admin/kpis/shift/{shift.pk}/change/",
        {
            "calendar": str(calendar.pk),
            "name": "Day",
            "start": "07:30",
            "end": "16:00",
            **WEEKDAYS,
            **inline("breaks", [{"name": "Lunch", "start": "12:00", "end": "12:30"}]),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    spec = Calendars().for_workshop("Hall B")
    assert spec.shifts[0].breaks == ((time(12), time(12, 30)),)
