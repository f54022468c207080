"""History, catalogue and orders syncs: a complete history, whatever happened to CWork."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.test import override_settings

from simulator import Simulator
from stations.health import ingest_health
from stations.jobs import run_job
from stations.models import (
    AlarmInterval,
    Operation,
    Order,
    PollRecord,
    ProgramRun,
    State,
    Station,
    SyncState,
    Top,
)
from tests.stations.helpers import other_state, writable_station

pytestmark = pytest.mark.django_db


def sync(kind, cwork, clock):
    result = run_job(kind, client=cwork, now=clock(), publish=lambda event: None)
    assert result.ok, result.reason
    return result


def assert_contiguous(station: Station) -> list[Top]:
    tops = list(Top.objects.filter(station=station).order_by("start"))
    assert tops, f"no tops for {station}"
    for before, after in itertools.pairwise(tops):
        assert before.end == after.start, f"gap or overlap at {before.end} / {after.start}"
    assert tops[-1].end is None  # the current state is still open
    return tops


def test_catalogue_stores_stations_states_and_parents(cwork, clock):
    result = sync("catalogue", cwork, clock)
    assert Station.objects.count() == 12
    assert State.objects.filter(parent__isnull=False).exists()
    assert result.record.changes["stations"] == 12
    again = sync("catalogue", cwork, clock)
    assert again.outcome.rows_written == 0


@override_settings(HISTORY_BACKFILL_DAYS=1)
def test_history_matches_cwork_without_gap_or_overlap(sim, cwork, clock):
    sync("catalogue", cwork, clock)
    sync("history", cwork, clock)
    for station in Station.objects.filter(disabled=False):
        tops = assert_contiguous(station)
        expected = sim.world.tops(station.cwork_id, clock() - timedelta(days=1), clock())
        assert [(t.start, t.end, t.state_cwork_id) for t in tops] == [
            (e.start, e.end, e.state) for e in expected
        ]


@override_settings(HISTORY_BACKFILL_DAYS=1)
def test_on_a_fresh_start_the_first_history_sync_does_not_find_an_empty_catalogue(cwork, clock):
    # Every job starts at once: the history sync must not run before any station is known
    # and leave the timelines empty for a whole interval.
    result = sync("history", cwork, clock)
    assert Station.objects.count() == 12
    assert result.outcome.stations_seen == 12
    assert Top.objects.exists()
    assert PollRecord.objects.filter(kind="catalogue", ok=True).count() == 1


@override_settings(HISTORY_BACKFILL_DAYS=1)
def test_history_is_back_filled_after_an_outage(sim, cwork, clock):
    sync("catalogue", cwork, clock)
    sync("history", cwork, clock)
    first_count = Top.objects.count()

    sim.faults.configure(outage=True)
    for _ in range(20):  # ten minutes of failed syncs
        clock.advance(30)
        run_job("history", client=cwork, now=clock(), publish=lambda event: None)
    assert SyncState.objects.get(kind="history").failures >= 1
    sim.faults.reset()
    clock.advance(3 * 3600)  # and three hours more before CWork answers again
    sync("history", cwork, clock)

    assert Top.objects.count() > first_count
    for station in Station.objects.filter(disabled=False):
        tops = assert_contiguous(station)
        expected = sim.world.tops(station.cwork_id, tops[0].start, clock())
        assert [(t.start, t.end, t.state_cwork_id) for t in tops] == [
            (e.start, e.end, e.state) for e in expected
        ]
    keys = list(Top.objects.values_list("station", "start"))
    assert len(keys) == len(set(keys))


@override_settings(HISTORY_BACKFILL_DAYS=1)
def test_a_state_changed_in_cwork_reaches_the_history(sim, cwork, clock):
    sync("catalogue", cwork, clock)
    sync("history", cwork, clock)
    handle = writable_station(sim)
    state = other_state(sim, handle)
    clock.advance(120)
    sim.world.change_state(handle, state, "waiting for material")
    clock.advance(60)
    sync("live", cwork, clock)
    assert Station.objects.get(cwork_id=handle).history_due

    sync("history", cwork, clock)
    station = Station.objects.get(cwork_id=handle)
    assert not station.history_due
    current = assert_contiguous(station)[-1]
    assert current.state_cwork_id == state
    assert current.comment == "waiting for material"


@override_settings(HISTORY_BACKFILL_DAYS=1)
def test_history_sync_replaces_provisional_program_runs(sim, cwork, clock):
    sync("live", cwork, clock)
    for _ in range(12 * 60):
        clock.advance(60)
        sync("live", cwork, clock)
        if ProgramRun.objects.filter(provisional=True).exists():
            break
    provisional = ProgramRun.objects.filter(provisional=True).first()
    assert provisional is not None
    Station.objects.update(history_synced_until=clock() - timedelta(hours=13))

    sync("history", cwork, clock)

    assert not ProgramRun.objects.filter(provisional=True).exists()
    runs = ProgramRun.objects.filter(station=provisional.station, kind=provisional.kind)
    assert runs.filter(name=provisional.name).exists()
    assert runs.filter(end=None).count() <= 1
    assert AlarmInterval.objects.exists()


def test_orders_and_operations_are_stored(cwork, clock):
    sync("catalogue", cwork, clock)
    result = sync("orders", cwork, clock)
    assert Order.objects.exists()
    assert Operation.objects.filter(station__isnull=False).exists()
    assert result.record.changes["orders"] == Order.objects.count()


def test_a_missing_licence_is_recorded_once_not_retried_every_cycle(clock):
    sim = Simulator(stations=4, seed=3, clock=clock, licenses=("monitor", "dnc"))
    with sim.client(retries=0) as cwork:
        first = run_job("orders", client=cwork, now=clock())
        clock.advance(300)
        second = run_job("orders", client=cwork, now=clock())
    assert first.ran
    assert not first.ok
    assert "licen" in first.reason.lower()
    assert not second.ran
    assert PollRecord.objects.filter(kind="orders").count() == 1
    state = SyncState.objects.get(kind="orders")
    assert state.unavailable
    assert state.retry_at >= clock() + timedelta(minutes=50)
    assert ingest_health(clock()).kinds["orders"].unavailable


def test_data_is_stale_after_a_few_missed_polls(cwork, clock, settings):
    assert ingest_health(clock()).stale  # nothing yet
    sync("live", cwork, clock)
    assert not ingest_health(clock()).stale
    later = clock() + timedelta(seconds=settings.STALE_AFTER_POLLS * settings.POLL_INTERVAL + 1)
    health = ingest_health(later)
    assert health.stale
    assert health.live_as_of is not None
