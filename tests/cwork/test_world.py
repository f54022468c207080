"""The simulated factory: consistent, deterministic, writable, and fast enough at scale."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TypedDict, Unpack
from zoneinfo import ZoneInfo

import pytest

from cwork import oee
from simulator.world import ManualClock, TopRecord, World, WorldError

PARIS = ZoneInfo("Europe/Paris")
#: A Wednesday; the 14 days of history before it cross the spring DST change (31 March).
T0 = datetime(2024, 4, 3, 10, 17, 23, tzinfo=PARIS)
#: The history starts 14 × 86400 s before the clock (an hour off the local time: DST).
HISTORY = (T0.astimezone(UTC) - timedelta(days=14)).astimezone(PARIS)
LONG_AGO = T0 - timedelta(days=60)

PRODUCTION, BREAKDOWN, SETTING, WAITING, DISENGAGEMENT = 0, 1, 2, 3, 4
FAILURES = {1, 5, 6}  # Breakdown and its children
BREAK = 10
MINOR_ALARMS = {"2042", "1105", "2051", "1030"}
#: With 24 stations: 1–8 are in Building A (3×8), 9–16 in B (2×8), 17–24 in C (day shift);
#: station 7 has no MDC mode and station 13 is disabled.
BUILDING_A, BUILDING_B, BUILDING_C = range(1, 9), range(9, 17), range(17, 25)
NO_MDC, DISABLED = 7, 13
WRITABLE = [h for h in range(1, 25) if h not in (NO_MDC, DISABLED)]


class WorldOptions(TypedDict, total=False):
    """``World``'s options a test may set beside its clock."""

    stations: int
    seed: int
    tz: str
    history_days: int
    speed: float


def make_world(at: datetime = T0, **kwargs: Unpack[WorldOptions]) -> tuple[World, ManualClock]:
    clock = ManualClock(at)
    return World(clock=clock, **kwargs), clock


def history(world: World, handle: int) -> list[TopRecord]:
    now = world.now()
    return world.tops(handle, LONG_AGO, now + timedelta(days=1))


def top_at(tops: list[TopRecord], moment: datetime, now: datetime) -> TopRecord:
    for top in tops:
        if top.start <= moment < (top.end or now + timedelta(seconds=1)):
            return top
    raise AssertionError(f"no top at {moment}")


@pytest.fixture(scope="module")
def world() -> World:
    """A read-only world at T0 (tests that write make their own)."""
    return make_world()[0]


@pytest.fixture(scope="module")
def oracle() -> World:
    """The same factory seen a day later: it shows what the automatic timeline will do."""
    return make_world(T0 + timedelta(days=1))[0]


def quiet_station(oracle: World, at: datetime, minutes: int, exclude: tuple[int, ...] = ()) -> int:
    """A writable station whose automatic timeline has no transition in (at, at + minutes]."""
    for handle in WRITABLE:
        if handle in exclude:
            continue
        tops = oracle.tops(handle, at + timedelta(seconds=1), at + timedelta(minutes=minutes))
        if not tops:
            return handle
    raise AssertionError("no quiet station")


# -- the catalogue -----------------------------------------------------------------------


def test_stations_and_states_catalogue(world: World) -> None:
    assert [s.handle for s in world.stations] == list(range(1, 25))
    assert {s.workshop for s in world.stations} == {"Building A", "Building B", "Building C"}
    assert len({s.name for s in world.stations}) == 24
    assert all(s.mdc_groups[0] in ("Milling", "Turning") for s in world.stations)
    protocols = {"FOCAS", "Heidenhain LSV2", "FTPClient", "SMBClient", "RS232"}
    assert {s.protocol for s in world.stations} <= protocols
    assert world.station(DISABLED).disabled
    assert not world.station(NO_MDC).mdc_mode
    states = {s.handle: s for s in world.states}
    doc = {  # the doc's /states example
        0: ("Production", "#008000", 4, False, True, True),
        1: ("Breakdown", "#FF0000", 2, False, False, True),
        2: ("Setting", "#0000FF", 2, False, False, True),
        3: ("Waiting", "#FFFF00", 3, False, False, True),
        4: ("Disengagement", "#808080", 1, True, False, False),
    }
    for handle, (name, color, category, close_day, prod, use) in doc.items():
        s = states[handle]
        assert (s.name, s.color, s.oee_category, s.parent) == (name, color, category, None)
        assert (s.close_day, s.prod_percent, s.use_percent, s.archived) == (
            close_day,
            prod,
            use,
            False,
        )
    assert len({s.color for s in world.states}) == len(world.states)
    assert {s.handle for s in world.states if s.parent == BREAKDOWN} == {5, 6}
    assert [s.handle for s in world.states if s.archived] == [12]
    assert world.state(10).name == "Break"
    with pytest.raises(WorldError) as err:
        world.state(99)
    assert err.value.code == 2005
    with pytest.raises(WorldError) as err:
        world.station(25)
    assert err.value.code == 2003


def test_large_worlds_have_more_workshops() -> None:
    big = World(stations=200, clock=ManualClock(T0))
    per_workshop: dict[str, int] = {}
    for s in big.stations:
        per_workshop[s.workshop] = per_workshop.get(s.workshop, 0) + 1
    assert len(per_workshop) >= 6
    assert all(15 <= n <= 40 for n in per_workshop.values())
    assert 4 <= sum(s.disabled for s in big.stations) <= 12
    assert 4 <= sum(not s.mdc_mode for s in big.stations) <= 10


# -- history -------------------------------------------------------------------------------


def test_tops_are_contiguous_and_the_current_one_matches_status(world: World) -> None:
    now = world.now()
    statuses = world.statuses()
    for handle in range(1, 25):
        tops = history(world, handle)
        assert tops[0].start == HISTORY  # the history starts 14 days before the clock
        for a, b in pairwise(tops):
            assert a.end == b.start, (handle, a, b)
            assert a.start < a.end
            assert a.state != b.state, (handle, a, b)
        current = tops[-1]
        assert current.end is None
        assert current.start <= now
        status = statuses[handle - 1]
        assert status == world.status(handle)
        assert (status.state, status.since, status.comment) == (
            current.state,
            current.start,
            current.comment,
        )


def test_disabled_station_stays_disengaged(world: World) -> None:
    tops = history(world, DISABLED)
    assert len(tops) == 1
    assert (tops[0].state, tops[0].start, tops[0].end) == (DISENGAGEMENT, HISTORY, None)
    status = world.status(DISABLED)
    assert status.state == DISENGAGEMENT
    assert status.running_program is None
    assert world.alarms(DISABLED, LONG_AGO, T0) == []


def test_tops_window_before_and_after(world: World) -> None:
    tops = history(world, 3)
    middle = tops[len(tops) // 2]
    window = world.tops(3, middle.start, middle.start + timedelta(hours=6))
    assert window[0] == middle
    assert all(middle.start <= t.start < middle.start + timedelta(hours=6) for t in window)
    i = tops.index(middle)
    j = i + len(window)
    assert world.tops(3, middle.start, window[-1].start, before=2, after=1) == tops[i - 2 : j]
    # A window inside one top holds nothing, but its neighbours are found.
    assert middle.end is not None
    inside = middle.start + (middle.end - middle.start) / 2
    assert world.tops(3, inside, inside + timedelta(seconds=1)) == []
    assert world.tops(3, inside, inside + timedelta(seconds=1), before=1, after=1) == [
        tops[i],
        tops[i + 1],
    ]
    # Nothing before the history's first top, nothing after the current one.
    assert world.tops(3, HISTORY, HISTORY + timedelta(seconds=1), before=5)[0] == tops[0]
    assert world.tops(3, T0, T0 + timedelta(days=1), after=5) == []


def test_calendars(world: World) -> None:
    now = world.now()
    day = HISTORY.replace(hour=0, minute=0, second=0) + timedelta(days=1)
    while day + timedelta(days=1) < now:
        weekday = day.weekday() < 5
        for handle in (17, 20):  # Building C: day shift, closed at night and at the weekend
            tops = world.tops(handle, day, day + timedelta(days=1), before=1)
            assert top_at(tops, day.replace(hour=3), now).state == DISENGAGEMENT
            assert top_at(tops, day.replace(hour=20), now).state == DISENGAGEMENT
            midday = top_at(tops, day.replace(hour=12, minute=15), now).state
            assert midday == (BREAK if weekday else DISENGAGEMENT)
            if weekday:
                assert top_at(tops, day.replace(hour=10), now).state not in (DISENGAGEMENT, BREAK)
        # Building A runs Monday 05:00 to Saturday 05:00 without a break.
        tops = world.tops(2, day, day + timedelta(days=1), before=1)
        night = top_at(tops, day.replace(hour=3), now).state
        assert (night == DISENGAGEMENT) == (day.weekday() in (6, 0))  # Sunday, Monday
        day += timedelta(days=1)
    # Openings in local time on both sides of the DST change.
    for handle, expected in ((17, (7, 30, 16, 0)), (10, (5, 0, 21, 0))):
        week = world.opening(handle, datetime(2024, 3, 25, tzinfo=PARIS), T0.replace(hour=0))
        assert len(week) == 5 + 2  # Monday 25 March to Friday, then Monday and Tuesday
        for s, e in week:
            assert s.weekday() < 5
            assert (s.hour, s.minute, e.hour, e.minute) == expected
    week = world.opening(1, datetime(2024, 3, 25, tzinfo=PARIS), datetime(2024, 4, 1, tzinfo=PARIS))
    assert week == [
        (datetime(2024, 3, 25, 5, tzinfo=PARIS), datetime(2024, 3, 30, 5, tzinfo=PARIS))
    ]


def test_alarms_belong_to_breakdowns_or_production(world: World) -> None:
    now = world.now()
    breakdowns = with_alarm = 0
    for handle in WRITABLE:
        tops = history(world, handle)
        alarms = world.alarms(handle, LONG_AGO, now)
        starts = {a.start for a in alarms}
        for top in tops:
            if top.state in FAILURES:
                breakdowns += 1
                with_alarm += top.start in starts
        for alarm in alarms:
            top = top_at(tops, alarm.start, now)
            assert top.state in FAILURES | {PRODUCTION}, (handle, alarm, top)
            if top.state == PRODUCTION:
                assert alarm.code in MINOR_ALARMS
            else:
                assert alarm.code not in MINOR_ALARMS
            if alarm.end is not None:
                assert top.end is None or alarm.end <= top.end
        active = [a for a in alarms if a.end is None]
        assert list(world.status(handle).alarms) == active
    assert breakdowns > 20
    # Breakdowns raise their alarms at once (those resumed after a closure do not).
    assert with_alarm / breakdowns > 0.85


def test_programs_follow_production_and_jobs(world: World) -> None:
    now = world.now()
    for handle in BUILDING_B:
        if handle == DISABLED:
            continue
        tops = history(world, handle)
        running = world.running_programs(handle, LONG_AGO, now)
        production = [t for t in tops if t.state == PRODUCTION]
        assert [(r.start, r.end) for r in running] == [(t.start, t.end) for t in production]
        selected = world.selected_programs(handle, LONG_AGO, now)
        assert selected[-1].end is None
        names = {s.name for s in selected}
        assert {r.name for r in running} <= names
        status = world.status(handle)
        assert status.selected_program == selected[-1].name
        assert (status.running_program is not None) == (status.state == PRODUCTION)


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_and_clock_give_the_same_world_whatever_the_query_order() -> None:
    one, _ = make_world()
    two, _ = make_world()
    first = one.statuses()
    a = [history(one, h) for h in range(1, 25)]
    # The other world is asked the other way round, in pieces, statuses last.
    week = two.tops(5, T0 - timedelta(days=9), T0 - timedelta(days=6))
    b = [history(two, h) for h in reversed(range(1, 25))][::-1]
    assert week == [t for t in a[4] if T0 - timedelta(days=9) <= t.start < T0 - timedelta(days=6)]
    assert two.orders()
    assert a == b
    assert first == two.statuses()
    period = (T0 - timedelta(days=3), T0)
    for h in (1, 9, 17):
        assert one.kpi(h, *period) == two.kpi(h, *period)
        assert one.alarms(h, *period) == two.alarms(h, *period)
        assert one.running_programs(h, *period) == two.running_programs(h, *period)
    assert one.orders() == two.orders()
    assert one.operations() == two.operations()
    other, _ = make_world(seed=2)
    assert history(other, 1) != a[0]


# -- parts ---------------------------------------------------------------------------------


def test_part_counts_rise_in_production_and_reset_at_setup() -> None:
    world, clock = make_world()
    previous = {s.station: s for s in world.statuses()}
    setups = 0
    for _ in range(12 * 60):  # 12 hours, minute by minute
        clock.advance(60)
        for s in world.statuses():
            p = previous[s.station]
            assert s.total_parts >= p.total_parts
            assert s.parts_since_reset <= s.part_target or not s.order
            if (s.order, s.job) != (p.order, p.job):
                # A new job starts its count again, with its set-up (unless a closure cut the
                # set-up short).
                assert s.parts_since_reset <= s.total_parts - p.total_parts
                assert s.parts_since_reset == 0 or s.state != SETTING
                if s.state == SETTING:
                    assert s.comment == f"Setting for next job ({s.order}-{s.job})"
                    setups += 1
            else:
                assert s.parts_since_reset >= p.parts_since_reset
                gained = s.total_parts - p.total_parts
                assert s.parts_since_reset - p.parts_since_reset == gained
            if s.total_parts > p.total_parts:  # parts only come out of production
                ran = world.running_programs(
                    s.station, clock() - timedelta(seconds=60), clock() + timedelta(seconds=1)
                )
                assert ran
            previous[s.station] = s
    assert setups > 3


def test_scrap_makes_good_parts_fewer_than_parts_made(world: World) -> None:
    k = world.kpi(1, T0 - timedelta(days=7), T0)
    assert k.nrt is not None
    assert k.fpt is not None
    assert 0.95 < k.fpt / k.nrt < 0.995


# -- writes --------------------------------------------------------------------------------


def test_write_errors_carry_cwork_codes() -> None:
    world, _ = make_world()
    current = world.status(1).state
    other = WAITING if current != WAITING else SETTING

    def code(call: Callable[..., object], *args: object, **kwargs: object) -> int:
        with pytest.raises(WorldError) as err:
            call(*args, **kwargs)
        return err.value.code

    assert code(world.change_state, 99, other) == 2003
    assert code(world.change_state, DISABLED, other) == 2003
    assert code(world.change_state, NO_MDC, other) == 2007
    assert code(world.change_state, 1, 42) == 2005
    assert code(world.change_state, 1, 12) == 2006  # "Rework (old)" is archived
    assert code(world.change_state, 1, other, allowed_states={current}) == 2021
    assert code(world.change_state, 1, current) == 2020
    assert code(world.replace_current_state, 1, current) == 2020
    assert code(world.replace_current_state, 1, 12) == 2006
    assert code(world.force_auto_state, DISABLED) == 2003
    assert code(world.reset_part_count, 1, -1) == 1010
    assert code(world.reset_part_count, 99, 0) == 2003
    assert code(world.order, 1) == 2004
    assert code(world.operation, 1) == 2004
    assert world.statuses()[0].state == current  # nothing changed


def test_change_state_shows_in_tops_status_and_kpi(oracle: World) -> None:
    world, clock = make_world()
    handle = quiet_station(oracle, T0, 30)
    before = world.status(handle)
    state = 9 if before.state != 9 else 8
    top = world.change_state(handle, state, "Operator called to the stores")
    assert (top.station, top.state, top.start, top.end) == (handle, state, T0, None)
    assert top.comment == "Operator called to the stores"
    status = world.status(handle)
    assert (status.state, status.since, status.comment) == (state, T0, top.comment)
    assert status.total_parts == before.total_parts  # the machine's counters are untouched
    clock.advance(600)
    tops = history(world, handle)
    assert tops[-1] == top
    assert tops[-2].end == T0
    assert tops[-2].state == before.state
    k = world.kpi(handle, T0, T0 + timedelta(seconds=600))
    assert (k.at, k.ppt, k.rt) == (600, 600, 0)  # 10 min of "No operator": an induced stop
    assert k.availability == 0


def test_force_auto_state_ends_the_manual_state(oracle: World) -> None:
    world, clock = make_world()
    handle = quiet_station(oracle, T0, 30)
    auto = world.status(handle)
    manual = BREAKDOWN if auto.state != BREAKDOWN else WAITING
    world.change_state(handle, manual, "Checking the spindle")
    clock.advance(300)
    assert world.status(handle).state == manual
    top = world.force_auto_state(handle)
    assert top.state == auto.state
    assert top.start == T0 + timedelta(seconds=300)
    assert world.status(handle).state == auto.state
    tops = history(world, handle)
    assert [(t.state, t.start) for t in tops[-3:]] == [
        (auto.state, auto.since),
        (manual, T0),
        (auto.state, T0 + timedelta(seconds=300)),
    ]
    assert tops[-2].end == T0 + timedelta(seconds=300)
    # Nothing manual left: forcing again changes nothing.
    assert world.force_auto_state(handle) == top
    k = world.kpi(handle, T0, T0 + timedelta(seconds=300))
    assert k.ft == 300 if manual == BREAKDOWN else k.ft == 0


def test_manual_state_ends_when_the_machine_starts_producing(oracle: World) -> None:
    world, clock = make_world()
    for handle in [h for h in BUILDING_A if h != NO_MDC]:
        auto = oracle.tops(handle, T0 - timedelta(days=1), T0 + timedelta(hours=6))
        current = top_at(auto, T0, T0)
        nxt = [t for t in auto if t.start > T0 and t.state == PRODUCTION]
        if current.state != PRODUCTION and nxt and nxt[0].start < T0 + timedelta(hours=3):
            break
    else:
        pytest.fail("no station about to produce")
    manual = NO_OPERATOR if current.state != NO_OPERATOR else NO_MATERIAL
    world.change_state(handle, manual, "Night shift handover")
    restart = nxt[0].start
    clock.set(restart + timedelta(minutes=1))
    tops = world.tops(handle, T0 - timedelta(hours=1), restart + timedelta(hours=1))
    assert [(t.state, t.start, t.end) for t in tops[-2:]] == [
        (manual, T0, restart),
        (PRODUCTION, restart, None),
    ]
    assert world.status(handle).state == PRODUCTION


NO_MATERIAL, NO_OPERATOR = 8, 9


def test_replace_current_state_merge_and_comment_rules(oracle: World) -> None:
    world, clock = make_world()
    handle = quiet_station(oracle, T0, 40)
    auto = world.tops(handle, T0 - timedelta(days=1), T0)
    current, previous = auto[-1], auto[-2]
    # Two manual states that differ from the automatic ones around.
    a, b, c = [s for s in (WAITING, NO_MATERIAL, NO_OPERATOR, SETTING, 7)
               if s not in (current.state, previous.state)][:3]  # fmt: skip
    world.change_state(handle, a, "Waiting for the crane")
    clock.advance(600)
    world.change_state(handle, b, "Bar stock late")
    clock.advance(60)
    # Replacing by the state before: the two tops merge, comments joined.
    top = world.replace_current_state(handle, a)
    assert (top.state, top.start, top.end) == (a, T0, None)
    assert top.comment == "Waiting for the crane + Bar stock late"
    tops = history(world, handle)
    assert tops[-1] == top
    assert tops[-2].state == current.state
    assert tops[-2].end == T0
    # No merge and no comment: the comment stays.
    top = world.replace_current_state(handle, c)
    assert (top.state, top.start, top.comment) == (c, T0, "Waiting for the crane + Bar stock late")
    # A comment given replaces it.
    top = world.replace_current_state(handle, b, "Material arrived late")
    assert (top.state, top.start, top.comment) == (b, T0, "Material arrived late")
    assert world.status(handle).comment == "Material arrived late"
    # On an automatic top: the whole top changes state, its comment kept.
    other = quiet_station(oracle, T0, 40, exclude=(handle,))
    auto = world.tops(other, T0 - timedelta(days=1), T0)
    choice = next(s for s in (WAITING, NO_MATERIAL, NO_OPERATOR) if s not in (
        auto[-1].state, auto[-2].state))  # fmt: skip
    top = world.replace_current_state(other, choice)
    assert (top.state, top.start, top.comment) == (choice, auto[-1].start, auto[-1].comment)
    assert history(world, other)[-2] == auto[-2]


def test_reset_part_count(oracle: World) -> None:
    world, clock = make_world()
    # A station producing now whose job runs on for at least an hour.
    for handle in WRITABLE:
        status = world.status(handle)
        future = oracle.tops(handle, T0, T0 + timedelta(hours=12))
        setups = [t for t in future if t.state == SETTING and t.comment.startswith("Setting")]
        if status.state == PRODUCTION and setups and setups[0].start > T0 + timedelta(hours=1):
            break
    else:
        pytest.fail("no station to reset")
    world.reset_part_count(handle, 100)
    assert world.status(handle).parts_since_reset == 100
    then = world.status(handle).total_parts
    clock.advance(1800)
    status = world.status(handle)
    assert status.total_parts > then
    assert status.parts_since_reset == 100 + status.total_parts - then
    # The next set-up starts the count again from 0.
    clock.set(setups[0].start + timedelta(seconds=1))
    status = world.status(handle)
    assert status.state == SETTING
    assert status.parts_since_reset == 0
    world.reset_part_count(handle, 7)
    assert world.status(handle).parts_since_reset == 7


# -- KPIs ----------------------------------------------------------------------------------


def test_kpi_agrees_with_the_norm_over_tops(world: World) -> None:
    now = world.now()
    failing = {s.handle for s in world.states if s.handle == BREAKDOWN or s.parent == BREAKDOWN}
    bucket = {
        s.handle: oee.default_bucket(s.oee_category, is_failure=s.handle in failing)
        for s in world.states
    }
    periods = [
        (T0 - timedelta(days=7), T0),
        (T0 - timedelta(days=1, hours=5, minutes=13), T0 - timedelta(hours=19)),  # cuts tops
        (datetime(2024, 4, 2, 5, tzinfo=PARIS), datetime(2024, 4, 2, 13, tzinfo=PARIS)),
        (T0 - timedelta(hours=2), T0 + timedelta(hours=2)),  # ends in the future: cut at now
    ]
    for handle in (1, 4, 10, 18, 23):
        for start, end in periods:
            k = world.kpi(handle, start, end)
            stop = min(end, now)
            tops = world.tops(handle, start - timedelta(days=3), stop, before=1)
            intervals = [
                oee.Interval(t.start, t.end or now, bucket[t.state])
                for t in tops
                if (t.end or now) > start
            ]
            ref = oee.compute(
                start=start,
                end=stop,
                intervals=intervals,
                opening=world.opening(handle, start, stop),
                references=[],
            )
            for name in ("at", "ot", "ppt", "rt", "ft", "failures", "mtbf", "mttr"):
                assert getattr(k, name) == pytest.approx(getattr(ref, name)), (handle, name)
            for name in ("availability", "load", "involvement", "hardware_availability"):
                assert getattr(k, name) == pytest.approx(getattr(ref, name)), (handle, name)
            if k.rt > 3600:
                assert k.availability is not None
                assert k.performance is not None
                assert k.quality is not None
                assert k.oee == pytest.approx(k.availability * k.performance * k.quality)
                assert 0.6 < k.performance < 1.2
    body = world.kpi(1, T0 - timedelta(days=7), T0).as_cwork()
    assert set(body) == {"Times", "Rates"}
    assert body["Times"]["AT"] == 7 * 86400


def test_kpi_before_the_history_is_cut(world: World) -> None:
    k = world.kpi(1, LONG_AGO, HISTORY + timedelta(days=1))
    assert k.at == 86400  # only the simulated part of the period
    empty = world.kpi(1, LONG_AGO, LONG_AGO + timedelta(days=1))
    assert empty.at == 0
    assert empty.oee is None


# -- orders and operations ------------------------------------------------------------------


def test_orders_and_operations(world: World) -> None:
    orders = world.orders()
    assert orders
    assert all(o.valid and not o.archived for o in orders)
    assert {o.current_state for o in orders} <= {-1, 0, 2}
    assert 0 in {o.current_state for o in orders}
    for o in orders[:10]:
        assert world.order(o.order_id) == o
        ops = world.operations(order=o.order_id)
        assert 1 <= len(ops) <= 3
        assert [op.name for op in ops] == [str(10 * (i + 1)) for i in range(len(ops))]
        assert len({op.cnc_id for op in ops}) == 1  # in sequence on one station
        assert all(op.order_id == o.order_id for op in ops)
        other = 1 if ops[0].cnc_id != 1 else 2
        assert world.operations(cnc=other, order=o.order_id) == ops  # the order filter wins
        for op in ops:
            assert world.operation(op.operation_id) == op
            assert 0 <= op.parts_made <= op.parts_to_make
            assert op.parts_to_make % op.parts_per_cycle == 0
            if op.current_state == 2:
                assert op.parts_made == op.parts_to_make
            if op.current_state == -1:
                assert op.parts_made == 0
        assert (o.current_state == 2) == all(op.current_state == 2 for op in ops)
    for status in world.statuses():
        if not status.order:
            continue
        ops = world.operations(cnc=status.station)
        assert all(op.cnc_id == status.station for op in ops)
        (running,) = [op for op in ops if op.current_state == 0 and op.name == status.job]
        assert running.parts_made == status.parts_since_reset
        assert running.parts_to_make == status.part_target
        assert running.cycle_time == status.job_cycle_time
        assert world.order(running.order_id).name == status.order
    assert world.operations(cnc=DISABLED) == []
    assert world.operations(order=123) == []


def test_old_orders_are_archived(world: World) -> None:
    earlier, _ = make_world(T0 - timedelta(days=6))  # Thursday of the week before
    old = [o for o in earlier.orders() if o.current_state == 2]
    assert old
    listed = {o.order_id for o in world.orders()}
    for o in old:
        later = world.order(o.order_id)
        assert later.archived
        assert o.order_id not in listed


# -- time ---------------------------------------------------------------------------------


def test_the_clock_reveals_new_tops() -> None:
    world, clock = make_world()
    before = history(world, 2)
    first = world.statuses()
    clock.advance(6 * 3600)
    after = history(world, 2)
    assert len(after) > len(before)
    assert after[: len(before) - 1] == before[:-1]
    assert after[len(before) - 1].start == before[-1].start
    assert after[len(before) - 1].end is not None
    assert world.statuses() != first
    # A clock set back is ignored: the world's time never goes backwards.
    clock.set(T0)
    assert world.now() == T0 + timedelta(hours=6)


def test_real_clock_with_speed() -> None:
    world = World(stations=3, speed=120.0)
    start = world.now()
    assert start.tzinfo is not None
    assert abs((start - datetime.now(PARIS)).total_seconds()) < 5
    time.sleep(0.05)
    assert (world.now() - start).total_seconds() >= 5


def test_two_thousand_stations_are_built_and_advance() -> None:
    """The load benchmark's plant size (its speed is measured by bench/load.py, not here)."""
    clock = ManualClock(T0)
    world = World(stations=2000, clock=clock)
    assert len(world.statuses()) == 2000
    clock.advance(1)
    assert len(world.statuses()) == 2000
