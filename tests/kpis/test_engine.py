"""The KPI engine over stored data, checked against the simulated CWork's own ``/kpi``."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.db.models import Sum

from cwork import oee
from cwork.client import CWorkClient
from kpis.calendar import Calendars, local, previous_shift, shift_at
from kpis.demo import create_simulator_calendars
from kpis.engine import station_kpis
from kpis.figures import sync_cwork_figures
from kpis.intervals import state_pieces
from kpis.models import CWorkFigures, PartCounting, PartTally, Shift, StateBucket
from kpis.tally import PartsSeen, record_parts, slot_of
from stations.catalogue import sync_catalogue
from stations.history import sync_history
from stations.jobs import run_job
from stations.live import poll_live
from stations.models import LiveStatus, Operation, Station, SyncState
from stations.orders import sync_orders
from tests.lookups import present

pytestmark = pytest.mark.django_db

TIME_FIGURES = ("ot", "ppt", "rt", "nrt", "fpt", "ft")
RATE_FIGURES = ("availability", "performance", "quality", "oee")
PARIS = ZoneInfo("Europe/Paris")
WAITING = 3  # the simulator's "Waiting" state (an induced stop by default)


def build(cwork, clock) -> Calendars:
    """The catalogue, the simulator's calendars, the history, one live poll, CWork's KPIs."""
    sync_catalogue(cwork, now=clock())
    workshops = sorted(set(Station.objects.values_list("workshop", flat=True)))
    assert create_simulator_calendars(workshops)
    for _ in range(3):
        sync_history(cwork, now=clock())
    poll_live(cwork, now=clock())
    outcome = sync_cwork_figures(cwork, now=clock())
    assert not outcome.problems
    return Calendars()


def enabled_stations() -> list[Station]:
    return list(Station.objects.filter(disabled=False).order_by("cwork_id"))


def test_previous_shift_agrees_with_cwork_for_every_station(sim, cwork, clock):
    calendars = build(cwork, clock)
    stations = enabled_stations()
    assert len(stations) >= 9
    for station in stations:
        occ = previous_shift(calendars.for_workshop(station.workshop), clock())
        assert occ is not None
        report = station_kpis([station], occ.start, occ.end, now=clock(), calendars=calendars)
        (row,) = report.rows
        theirs = sim.world.kpi(station.cwork_id, occ.start, occ.end)
        for name in TIME_FIGURES:
            ours, cw = getattr(row.kpis, name), getattr(theirs, name)
            assert ours is not None, (station.cwork_id, name)
            assert ours == pytest.approx(cw, abs=1), (station.cwork_id, occ.key, name)
        for name in RATE_FIGURES:
            ours, cw = getattr(row.kpis, name), getattr(theirs, name)
            assert ours == pytest.approx(cw, abs=0.001), (station.cwork_id, occ.key, name)
        assert row.cwork is not None, "CWork's figures for the shift were fetched"
        assert row.differences == []
        assert "CWork" in row.sources["parts"]  # not counted here: CWork's net time


def test_parts_counted_by_the_dashboard_give_cwork_s_net_time(sim, cwork, clock):
    sync_catalogue(cwork, now=clock())
    sync_orders(cwork, now=clock())
    workshops = sorted(set(Station.objects.values_list("workshop", flat=True)))
    create_simulator_calendars(workshops)
    began = clock()  # 2026-11-24 09:00 UTC: every workshop is open (10:00 local)
    poll_live(cwork, now=began)
    for _ in range(125):  # a little over two hours, one poll a minute
        clock.advance(60)
        poll_live(cwork, now=clock())
    sync_history(cwork, now=clock())
    start, end = began, began + timedelta(hours=2)  # quarter-hour aligned, after counting began
    assert slot_of(start) == start
    report = station_kpis(enabled_stations(), start, end, now=clock())
    checked = 0
    for row in report.rows:
        handle = row.station.cwork_id
        theirs = sim.world.kpi(handle, start, end)
        assert "counted by the dashboard" in row.sources["parts"]
        assert row.kpis.nrt is not None
        # Parts land in the quarter hour of the poll that sees them: with one poll a minute,
        # a part finished in the window's last minute falls into the next slot (the window
        # is cut at a slot edge) and a job change is seen up to a minute late. Allowed: one
        # reference time per part (one part) or 2 % of CWork's NRT, whichever is larger.
        tcr = max((t.cycle_time or 0) for t in PartTally.objects.filter(station=row.station))
        tolerance = max(0.02 * (theirs.nrt or 0), tcr)
        assert row.kpis.nrt == pytest.approx(theirs.nrt, abs=tolerance), handle
        assert row.kpis.rt == pytest.approx(theirs.rt, abs=1), handle
        checked += theirs.nrt > 0
    assert checked >= 6, "most stations made parts in two hours of production"


def test_a_wrong_calendar_shows_as_a_difference_in_opening_time(sim, cwork, clock):
    build(cwork, clock)
    # The 2×8 workshop's afternoon really ends at 21:00 (CWork's figures were fetched so);
    # someone now types 19:00 in the dashboard's calendar.
    Shift.objects.filter(calendar__name="2×8", name="Afternoon").update(end=time(19))
    calendars = Calendars()
    station = Station.objects.filter(workshop="Building B", disabled=False).first()
    assert station is not None
    day = datetime(2026, 11, 23).date()  # Monday
    start = local(day, time(13), PARIS)
    end = local(day, time(21), PARIS)
    report = station_kpis([station], start, end, now=clock(), calendars=calendars)
    (row,) = report.rows
    assert row.cwork is not None
    by_name = {d.figure: d for d in row.differences}
    assert "ot" in by_name
    ot = by_name["ot"]
    assert not ot.is_rate
    assert ot.ours == 6 * 3600
    assert ot.cwork == 8 * 3600
    assert ot.delta == pytest.approx(-7200, abs=1)  # seconds: two hours of opening missing


def test_a_station_with_no_data_has_blank_rates_and_says_so(clock):
    station = Station.objects.create(
        cwork_id=4242, name="New lathe", workshop="Nowhere", synced_at=clock()
    )
    start = clock() - timedelta(hours=8)
    report = station_kpis([station], start, clock(), now=clock())
    (row,) = report.rows
    k = row.kpis
    for rate in ("performance", "quality", "oee", "gee", "teep", "hardware_availability"):
        assert getattr(k, rate) is None, rate
    assert k.nrt is None
    assert k.fpt is None
    assert k.mtbf is None
    assert k.mttr is None
    assert k.rt == 0
    assert "no calendar" in row.sources["calendar"]
    assert "no state history" in row.sources["states"]
    assert "not counted" in row.sources["parts"]
    assert "quality" in row.sources["quality"]
    assert row.cwork is None
    assert row.differences == []
    assert report.total.oee is None


def test_the_total_is_from_summed_times_never_an_average_of_rates(sim, cwork, clock):
    build(cwork, clock)
    stations = enabled_stations()
    # Monday 05:00–21:00 local: whole shifts of every pattern (16 h, 16 h and 8.5 h open).
    day = datetime(2026, 11, 23).date()
    start, end = local(day, time(5), PARIS), local(day, time(21), PARIS)
    report = station_kpis(stations, start, end, now=clock())
    combined = oee.combine(r.kpis for r in report.rows)
    assert report.total == combined
    fpt = sum(present(r.kpis.fpt) for r in report.rows)
    ppt = sum(r.kpis.ppt for r in report.rows)
    assert report.total.oee == pytest.approx(fpt / ppt)
    mean = statistics.mean(present(r.kpis.oee) for r in report.rows)
    assert report.total.oee is not None
    assert abs(report.total.oee - mean) > 1e-4  # required times differ: the mean is wrong


def test_a_state_mapping_override_moves_time_out_of_required_time(sim, cwork, clock):
    build(cwork, clock)
    # A whole 3×8 working stretch (Monday 05:00 local to now): opening everywhere.
    start = local(datetime(2026, 11, 23).date(), time(5), PARIS)
    stations = list(Station.objects.filter(workshop="Building A", disabled=False))
    pieces = state_pieces([s.pk for s in stations], start, clock(), clock())

    def waiting(station: Station) -> float:
        return sum(
            (min(p.end, clock()) - max(p.start, start)).total_seconds()
            for p in pieces[station.pk]
            if p.state_cwork_id == WAITING
        )

    station = max(stations, key=waiting)
    lost = waiting(station)
    assert lost > 0, "some waiting in the 3×8 workshop since Monday morning"
    before = station_kpis([station], start, clock(), now=clock()).rows[0].kpis
    StateBucket.objects.create(state_cwork_id=WAITING, bucket=oee.Bucket.DISENGAGED)
    after = station_kpis([station], start, clock(), now=clock()).rows[0].kpis
    assert after.ot == before.ot
    assert after.ppt == pytest.approx(before.ppt - lost, abs=1)
    assert after.rt == before.rt
    assert present(after.availability) > present(before.availability)
    assert present(after.load) < 1


class BrokenKpiForOneStation(httpx.BaseTransport):
    """Sends one station's ``/kpi`` to a station CWork does not know: its real error answer."""

    def __init__(self, inner: httpx.BaseTransport, handle: int) -> None:
        self.inner, self.path = inner, f"/stations/{handle}/kpi"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path:
            request = httpx.Request(
                request.method,
                request.url.copy_with(path="/stations/99999/kpi"),
                headers=request.headers,
            )
        return self.inner.handle_request(request)


class CountingKpiRequests(httpx.BaseTransport):
    """Counts the ``/kpi`` requests that reach CWork (not the client's version probe)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.requests = inner, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += request.url.path.endswith("/kpi")
        return self.inner.handle_request(request)


def _client(sim, transport):
    return CWorkClient("http://cwork-simulator", sim.api_keys[0], transport=transport, retries=0)


def test_figures_job_running_shifts_first_refresh_and_batches(sim, cwork, clock, settings):
    settings.KPI_BACKFILL_DAYS = 2
    settings.KPI_SYNC_INTERVAL = 300
    sync_catalogue(cwork, now=clock())
    create_simulator_calendars(sorted(set(Station.objects.values_list("workshop", flat=True))))
    stations = enabled_stations()
    counting = CountingKpiRequests(sim.transport())
    with _client(sim, counting) as client:
        first = sync_cwork_figures(client, now=clock(), batch=3)
        assert first.rows_written == 3
        assert counting.requests == 3
        rows = list(CWorkFigures.objects.all())
        assert all(r.end > clock() and not r.final for r in rows), "running shifts come first"

        done = sync_cwork_figures(client, now=clock(), batch=1000)
        # Every running shift, then the finished ones of the last two days, newest first.
        assert CWorkFigures.objects.filter(end__gt=clock()).count() == len(stations)
        finished = CWorkFigures.objects.filter(end__lte=clock())
        assert finished.exists()
        assert all(r.final and r.until == r.end for r in finished)
        assert done.rows_written == CWorkFigures.objects.count() - 3
        stored = CWorkFigures.objects.count()

        # A minute later: nothing is due (running ones are fresh, finished ones final).
        clock.advance(60)
        counting.requests = 0
        again = sync_cwork_figures(client, now=clock(), batch=1000)
        assert (again.rows_written, counting.requests) == (0, 0)

        # After KPI_SYNC_INTERVAL the running shifts are refreshed, and only they.
        clock.advance(300)
        later = sync_cwork_figures(client, now=clock(), batch=1000)
        assert later.rows_written == counting.requests == len(stations)
        assert CWorkFigures.objects.count() == stored
        refreshed = CWorkFigures.objects.filter(end__gt=clock())
        assert all(r.fetched_at == clock() and r.until == clock() for r in refreshed)
        assert not CWorkFigures.objects.filter(end__lte=clock(), fetched_at=clock()).exists()


def test_figures_job_records_a_cwork_error_and_goes_on(sim, clock, settings):
    settings.KPI_BACKFILL_DAYS = 1
    with sim.client(retries=0) as cwork:
        sync_catalogue(cwork, now=clock())
    create_simulator_calendars(sorted(set(Station.objects.values_list("workshop", flat=True))))
    stations = enabled_stations()
    broken = stations[0]
    with _client(sim, BrokenKpiForOneStation(sim.transport(), broken.cwork_id)) as client:
        outcome = sync_cwork_figures(client, now=clock())
    assert len(outcome.problems) >= 1
    assert all(f"station {broken.cwork_id}" in p for p in outcome.problems)
    assert not CWorkFigures.objects.filter(station=broken).exists()
    others = {r.station_id for r in CWorkFigures.objects.all()}
    assert others == {s.pk for s in stations[1:]}
    assert outcome.rows_written == CWorkFigures.objects.count() > 0


def test_live_poll_tallies_parts_under_the_job_with_its_time_per_part(sim, cwork, clock):
    sync_catalogue(cwork, now=clock())
    sync_orders(cwork, now=clock())
    first = clock()
    poll_live(cwork, now=first)
    # First sight: counting starts, nothing is counted (what came before is unknown).
    assert PartCounting.objects.count() == Station.objects.count()
    assert set(PartCounting.objects.values_list("since", flat=True)) == {first}
    assert not PartTally.objects.exists()
    several_per_cycle = 0
    for _ in range(40):  # one poll per quarter hour, so each poll has a slot of its own
        before = dict(LiveStatus.objects.values_list("station_id", "total_parts"))
        clock.advance(900)
        poll_live(cwork, now=clock())
        after = {ls.station_id: ls for ls in LiveStatus.objects.all()}
        for tally in PartTally.objects.filter(slot=slot_of(clock())):
            live = after[tally.station_id]
            counted = present(live.total_parts) - present(before[tally.station_id])
            assert tally.parts == counted > 0
            assert (tally.order, tally.job, tally.reference) == (
                live.order,
                live.job,
                live.reference,
            )
            operation = Operation.objects.get(order__name=live.order, name=live.job)
            assert operation.parts_per_cycle is not None
            # tCR per part = the job's cycle time / the parts one cycle makes.
            assert tally.cycle_time == pytest.approx(
                present(live.job_cycle_time) / operation.parts_per_cycle
            )
            several_per_cycle += operation.parts_per_cycle > 1
        if several_per_cycle:
            break
    assert several_per_cycle, "a job making several parts per cycle ran within ten hours"
    # The counting start does not move on later polls.
    assert set(PartCounting.objects.values_list("since", flat=True)) == {first}


def part_counters() -> dict[int, int]:
    """Each polled station's part counter (CWork gives every station one)."""
    rows = LiveStatus.objects.values_list("station_id", "total_parts")
    return {station_id: present(parts) for station_id, parts in rows}


def test_a_tally_that_cannot_be_written_fails_the_poll_and_its_parts_are_counted_later(
    sim, cwork, clock, monkeypatch
):
    """The tallies are written in the live poll's transaction (``poll_rows_written``): a
    poll whose tally fails stores no status either, so the next poll counts its parts, once."""
    sync_catalogue(cwork, now=clock())
    assert run_job("live", client=cwork, now=clock(), publish=lambda e: None).ok
    before = part_counters()
    clock.advance(900)

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(PartTally.objects, "bulk_create", broken)
        failed = run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    assert not failed.ok
    assert "the disk is full" in failed.reason
    assert dict(LiveStatus.objects.values_list("station_id", "total_parts")) == before
    assert not PartTally.objects.exists()

    clock.advance((SyncState.objects.get(kind="live").retry_at - clock()).total_seconds())
    assert run_job("live", client=cwork, now=clock(), publish=lambda e: None).ok
    after = part_counters()
    made = {sid: after[sid] - before[sid] for sid in after if after[sid] > before[sid]}
    assert made, "no station made a part in a quarter of an hour"
    counted = dict(PartTally.objects.values_list("station_id").annotate(parts=Sum("parts")))
    assert counted == made


def test_a_part_count_going_down_adds_nothing(clock):
    station = Station.objects.create(cwork_id=77, name="M77", synced_at=clock())
    seen = [PartsSeen(station.pk, None, 100, "O1", "J1", "R1", 60)]
    record_parts(seen, clock())  # first sight
    record_parts([PartsSeen(station.pk, 100, 40, "O1", "J1", "R1", 60)], clock())
    assert not PartTally.objects.exists()
    record_parts([PartsSeen(station.pk, 40, 45, "O1", "J1", "R1", 60)], clock())
    (tally,) = PartTally.objects.all()
    assert tally.parts == 5  # counted on from the lower value
    assert tally.cycle_time == 60  # no operation known: one part per cycle


def test_previous_and_running_shift_in_the_engine_window(sim, cwork, clock):
    calendars = build(cwork, clock)
    spec = calendars.for_workshop("Building A")
    running = shift_at(spec, clock())
    assert running is not None
    station = Station.objects.filter(workshop="Building A", disabled=False).first()
    assert station is not None
    report = station_kpis([station], running.start, running.end, now=clock())
    # The period is cut at now: AT runs from the shift's start to now, not to its end.
    assert report.until == clock()
    assert report.rows[0].kpis.at == (clock() - running.start).total_seconds()
    assert clock() - running.start < running.end - running.start
    assert running.start.tzinfo == UTC


def test_a_running_shift_started_before_counting_takes_cwork_s_net_time(sim, cwork, clock):
    # The dashboard started mid-shift: its own part count misses the shift's first hours, so
    # the running shift's performance and OEE come from CWork's figures, and say so.
    calendars = build(cwork, clock)
    station = Station.objects.filter(workshop="Building A", disabled=False).first()
    assert station is not None
    running = shift_at(calendars.for_workshop(station.workshop), clock())
    assert running is not None
    row = station_kpis([station], running.start, running.end, now=clock()).rows[0]
    assert row.kpis.performance is not None
    assert row.kpis.oee is not None
    assert "CWork's net time" in row.sources["parts"]
    theirs = sim.world.kpi(station.cwork_id, running.start, clock())
    assert row.kpis.nrt == pytest.approx(theirs.nrt, abs=1)
    # Figures of a shift still running are not cross-checked (CWork's lag behind).
    clock.advance(120)
    later = station_kpis([station], running.start, running.end, now=clock()).rows[0]
    assert later.differences == []
    assert "compared once the period is over" in later.sources["crosscheck"]
