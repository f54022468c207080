"""The live poll: what changed in CWork is stored and published, nothing else."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.locks import exclusive
from cwork.client import CWorkClient
from stations.jobs import run_job
from stations.models import AlarmInterval, LiveStatus, PollRecord, ProgramRun, Station, SyncState
from stations.signals import poll_committed, poll_rows_written
from tests.lookups import present
from tests.stations.helpers import (
    CountingTransport,
    RewritingTransport,
    other_state,
    writable_station,
)

pytestmark = pytest.mark.django_db


def poll(cwork, clock, published):
    result = run_job("live", client=cwork, now=clock(), publish=published.append)
    assert result.ok, result.reason
    return result


def test_first_poll_stores_every_station_and_publishes_one_event(cwork, clock, published):
    poll(cwork, clock, published)
    assert Station.objects.count() == LiveStatus.objects.count() == 12
    assert len(published) == 1
    assert {c.cwork_id for c in published[0].changes} == set(range(1, 13))


def test_unchanged_cycle_writes_nothing_and_publishes_nothing(cwork, clock, published):
    poll(cwork, clock, published)
    with CaptureQueriesContext(connection) as queries:
        result = poll(cwork, clock, published)
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert result.outcome.rows_written == 0
    # The one insert is the run's own record, so health is a fact.
    assert len(writes) == 1
    assert "stations_pollrecord" in writes[0]
    # Screens still hear that the poll succeeded (their heartbeat), with no change in it...
    assert len(published) == 2
    assert published[-1].changes == ()


def test_a_state_change_in_cwork_is_stored_and_published(sim, cwork, clock, published):
    poll(cwork, clock, published)
    handle = writable_station(sim)
    state = other_state(sim, handle)
    sim.world.change_state(handle, state, "tool change")

    result = poll(cwork, clock, published)

    live = LiveStatus.objects.get(station__cwork_id=handle)
    assert live.state_cwork_id == state
    assert present(live.state).cwork_id == state
    assert live.comment == "tool change"
    assert result.outcome.stations_changed == 1
    (change,) = published[-1].changes
    assert change.cwork_id == handle
    assert "state" in change.fields
    assert Station.objects.get(cwork_id=handle).history_due


#: What the configured publisher was handed, in the test below.
handed: list = []


def hand(event) -> None:
    handed.append(event)


def test_the_event_goes_to_the_configured_publisher(cwork, clock, settings):
    """The one path from a poll to the screens: ``settings.LIVE_PUBLISHER``, the wall's
    fan-out (the ingest sends nothing on the channel layer itself)."""
    settings.LIVE_PUBLISHER = f"{__name__}.hand"
    handed.clear()
    run_job("live", client=cwork, now=clock())
    run_job("live", client=cwork, now=clock())
    first, unchanged = handed
    assert len(first.changes) == 12
    assert all("new" in change.fields for change in first.changes)
    assert unchanged.changes == ()


def test_alarms_open_and_close_as_intervals_never_duplicated(sim, cwork, clock, published):
    poll(cwork, clock, published)
    opened = closed = None
    for _ in range(24 * 60):  # a simulated day, minute by minute
        clock.advance(60)
        poll(cwork, clock, published)
        active = AlarmInterval.objects.filter(end=None).first()
        if opened is None and active is not None:
            opened = active
        if opened is not None and AlarmInterval.objects.filter(pk=opened.pk, end=None).count() == 0:
            closed = AlarmInterval.objects.get(pk=opened.pk)
            break
    assert opened is not None, "no alarm in a simulated day"
    assert closed is not None
    assert closed.end is not None
    assert closed.end > closed.start
    assert (
        AlarmInterval.objects.filter(
            station=opened.station, code=opened.code, start=opened.start
        ).count()
        == 1
    )
    live = LiveStatus.objects.get(station=opened.station)
    assert [opened.code, opened.message, opened.start.isoformat()] not in live.alarms


def test_program_changes_open_provisional_runs(sim, cwork, clock, published):
    poll(cwork, clock, published)
    for _ in range(12 * 60):
        clock.advance(60)
        poll(cwork, clock, published)
        if ProgramRun.objects.filter(kind="running").exists():
            break
    run = ProgramRun.objects.filter(kind="running").first()
    assert run is not None
    assert run.provisional
    live = LiveStatus.objects.get(station=run.station)
    open_runs = ProgramRun.objects.filter(station=run.station, kind="running", end=None)
    assert open_runs.count() <= 1
    if live.running_program:
        assert open_runs.get().name == live.running_program


def test_a_malformed_station_record_is_skipped_and_reported(sim, clock, published):
    def spoil_third(body):
        body[2]["State"] = "not a state"
        return body

    transport = RewritingTransport(sim.transport(), "/station_statuses", spoil_third)
    with CWorkClient("http://cwork", "demo-key", transport=transport) as cwork:
        result = poll(cwork, clock, published)

    assert LiveStatus.objects.count() == 11
    assert result.record.problems
    assert "status record 2" in result.record.problems[0]
    assert PollRecord.objects.get(pk=result.record.pk).ok


def test_a_station_left_out_of_the_answer_is_marked_not_reporting(sim, clock, published):
    with sim.client() as cwork:
        poll(cwork, clock, published)

    transport = RewritingTransport(sim.transport(), "/station_statuses", lambda b: b[1:])
    with CWorkClient("http://cwork", "demo-key", transport=transport) as cwork:
        poll(cwork, clock, published)
    missing = LiveStatus.objects.exclude(missing_since=None)
    assert [live.station.cwork_id for live in missing] == [1]
    assert published[-1].changes[0].fields == ("reporting",)

    clock.advance(2)
    with sim.client() as cwork:
        poll(cwork, clock, published)
    assert not LiveStatus.objects.exclude(missing_since=None).exists()
    assert "reporting" in published[-1].changes[0].fields


def test_a_poll_never_runs_while_another_holds_the_lock(cwork, clock, published):
    with exclusive("job:live", ttl=60) as held:
        assert held
        result = run_job("live", client=cwork, now=clock(), publish=published.append)
    assert not result.ran
    assert result.reason == "another run is in progress"
    assert not PollRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_overlapping_polls_run_one_at_a_time(sim, clock):
    sim.faults.configure(latency=0.5)
    results = []

    def one_poll():
        with sim.client() as cwork:
            results.append(run_job("live", client=cwork, now=clock(), publish=lambda e: None))

    threads = [threading.Thread(target=one_poll) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.ran for r in results) == [False, False, True]
    assert PollRecord.objects.filter(kind="live").count() == 1


def test_cwork_down_backs_off_records_and_recovers(sim, clock, published):
    counter = CountingTransport(sim.transport())
    cwork = CWorkClient("http://cwork", "demo-key", transport=counter, retries=0)
    poll(cwork, clock, published)
    sim.faults.configure(outage=True)
    clock.advance(2)
    failed = run_job("live", client=cwork, now=clock(), publish=published.append)
    assert failed.ran
    assert not failed.ok
    state = SyncState.objects.get(kind="live")
    assert state.failures == 1
    assert state.retry_at > clock()

    requests_before = counter.requests
    skipped = run_job("live", client=cwork, now=clock(), publish=published.append)
    assert not skipped.ran
    assert "backing off" in skipped.reason
    assert counter.requests == requests_before  # no request storm while CWork is down

    sim.faults.reset()
    clock.advance(60)
    recovered = run_job("live", client=cwork, now=clock(), publish=published.append)
    assert recovered.ok
    state.refresh_from_db()
    assert state.failures == 0
    assert state.retry_at is None
    assert list(
        PollRecord.objects.filter(kind="live").order_by("started_at").values_list("ok", flat=True)
    ) == [True, False, True]


def test_every_committed_poll_is_told_with_its_kind_and_a_failing_listener_fails_none(
    cwork, clock, published, caplog
):
    heard = []

    def listener(sender, *, kind, now, outcome, record, **kwargs):
        heard.append((kind, now, outcome.stations_seen, record.pk, outcome.event))

    def broken(sender, **kwargs):
        raise RuntimeError("a listener's bug")

    poll_committed.connect(listener)
    poll_committed.connect(broken)
    try:
        catalogue = run_job("catalogue", client=cwork, now=clock(), publish=published.append)
        live = poll(cwork, clock, published)
    finally:
        poll_committed.disconnect(listener)
        poll_committed.disconnect(broken)
    assert catalogue.ok
    assert heard == [
        ("catalogue", clock(), 12, present(catalogue.record).pk, None),
        ("live", clock(), 12, live.record.pk, published[-1]),
    ]
    assert "broken failed after the live poll" in caplog.text
    assert "a listener's bug" in caplog.text


def test_what_a_poll_writes_is_told_with_the_rows_before_and_after(sim, cwork, clock, published):
    """``poll_rows_written`` hears each rewritten status (its listeners write in the poll's
    transaction: see kpis' tally); the rows they say they wrote count among the poll's."""
    heard = []

    def listener(sender, *, rows, missing, now, **kwargs):
        heard.extend(rows)
        assert LiveStatus.objects.get(station_id=rows[0].station_id).changed_at == now
        return 5

    first = poll(cwork, clock, published)
    handle = writable_station(sim)
    station = Station.objects.get(cwork_id=handle)
    old = LiveStatus.objects.get(station=station).state_cwork_id
    new = other_state(sim, handle)
    sim.world.change_state(handle, new, "")
    clock.advance(1)
    poll_rows_written.connect(listener)
    try:
        result = poll(cwork, clock, published)
    finally:
        poll_rows_written.disconnect(listener)
    assert first.outcome.rows_written > 0
    (row,) = [r for r in heard if r.station_id == station.pk]
    assert "state_cwork_id" in row.fields
    assert (row.before["state_cwork_id"], row.after["state_cwork_id"]) == (old, new)
    assert set(row.after) == set(row.before) >= {"state_cwork_id", "total_parts", "alarms"}
    assert result.outcome.rows_written >= len(heard) + 5
