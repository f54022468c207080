"""One reading of "overlaps a period" for every stored interval: half-open [start, end), a
row still open (``end`` null) running; and the range the history sync reconciles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cwork.client import CWorkClient
from cwork.versions import NEWEST
from stations.history import sync_station_history
from stations.models import AlarmInterval, ProgramRun, Station, Top

pytestmark = pytest.mark.django_db

SYNCED = datetime(2026, 1, 1, tzinfo=UTC)
START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
END = START + timedelta(hours=8)
HOUR = timedelta(hours=1)


def make_station() -> Station:
    return Station.objects.create(cwork_id=1, name="Lathe 1", synced_at=SYNCED)


def at_the_edges(make) -> dict[str, Any]:
    """Rows of one kind around [START, END), by what they are."""
    return {
        "ends at the start": make(START - HOUR, START),
        "starts at the end": make(END, END + HOUR),
        "open since before": make(START - 2 * HOUR, None),
        "across the start": make(START - HOUR, START + HOUR),
        "inside": make(START + 2 * HOUR, START + 3 * HOUR),
        "open, starts at the end": make(END + timedelta(0), None),
    }


def found(queryset, rows: dict[str, Any]) -> set[str]:
    pks = set(queryset.overlapping(START, END).values_list("pk", flat=True))
    return {name for name, row in rows.items() if row.pk in pks}


IN = {"open since before", "across the start", "inside"}


def test_tops_overlapping_a_period_are_half_open_and_open_ones_run():
    station = make_station()
    counter = iter(range(100))

    def make(start, end):
        return Top.objects.create(
            station=station, start=start, end=end, state_cwork_id=next(counter)
        )

    rows = {  # one top per start
        "ends at the start": make(START - HOUR, START),
        "starts at the end": make(END, END + HOUR),
        "open since before": make(START - 2 * HOUR, None),
        "inside": make(START + 2 * HOUR, START + 3 * HOUR),
    }
    assert found(Top.objects.all(), rows) == {"open since before", "inside"}


def alarms_at_the_edges(station: Station) -> dict[str, Any]:
    codes = iter(f"E{i}" for i in range(100))
    return at_the_edges(
        lambda start, end: AlarmInterval.objects.create(
            station=station, code=next(codes), start=start, end=end
        )
    )


def test_alarms_overlapping_a_period_are_half_open_and_open_ones_run():
    rows = alarms_at_the_edges(make_station())
    assert found(AlarmInterval.objects.all(), rows) == IN


def test_program_runs_overlapping_a_period_are_half_open_and_open_ones_run():
    station = make_station()
    running, selected = ProgramRun.Kind.RUNNING, ProgramRun.Kind.SELECTED
    kinds = iter([running, running, running, selected, running, selected])  # unique starts

    def make(start, end):
        return ProgramRun.objects.create(
            station=station, kind=next(kinds), name="O100", start=start, end=end
        )

    assert found(ProgramRun.objects.all(), at_the_edges(make)) == IN


def empty_answer(request: httpx.Request) -> httpx.Response:
    """CWork's raw answer for a range with nothing in it: an empty page of tops, else []."""
    if request.url.path.endswith("/tops"):
        return httpx.Response(200, content=b'{"Has_more": false, "Tops": []}')
    return httpx.Response(200, content=b"[]")


def cwork_with_nothing_to_say() -> CWorkClient:
    """CWork answering an empty list for every range (raw bodies at the transport): the
    sync removes what it stores there."""
    return CWorkClient(
        "http://cwork",
        "demo-key",
        server_version=NEWEST,
        transport=httpx.MockTransport(empty_answer),
        retries=0,
    )


def test_the_history_sync_reconciles_alarms_and_programs_up_to_and_including_its_now():
    """CWork's answer as of ``now`` records everything begun by then: a row that starts
    exactly at ``now`` (a program run the live poll opened at that instant) is reconciled
    with it, as is one still open; one that ended exactly at ``since`` is the previous
    sync's, one that starts after ``now`` the next one's."""
    station = make_station()
    Station.objects.filter(pk=station.pk).update(history_synced_until=START, history_due=True)
    station.refresh_from_db()
    alarms = alarms_at_the_edges(station)
    alarms["after the end"] = AlarmInterval.objects.create(
        station=station, code="LATER", start=END + timedelta(microseconds=1), end=None
    )
    runs = {
        name: ProgramRun.objects.create(
            station=station, kind="running", name=name, start=start, end=end, provisional=True
        )
        for name, start, end in [
            ("ends at the start", START - HOUR, START),
            ("opened at the end", END, None),
            ("inside", START + HOUR, START + 2 * HOUR),
            ("after the end", END + timedelta(microseconds=1), None),
        ]
    }

    with cwork_with_nothing_to_say() as cwork:
        sync_station_history(cwork, station, {}, now=END)

    kept = set(AlarmInterval.objects.values_list("pk", flat=True))
    assert {name for name, row in alarms.items() if row.pk in kept} == {
        "ends at the start",
        "after the end",
    }
    kept = set(ProgramRun.objects.values_list("pk", flat=True))
    assert {name for name, row in runs.items() if row.pk in kept} == {
        "ends at the start",
        "after the end",
    }
