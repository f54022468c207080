"""The review's timeline: bars cut at the period, holes as "no data", merging and pooling
that keep a long period light, ticks in plant time across DST, and the fragment."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template.loader import render_to_string

from kpis import timeline
from kpis.timeline import NO_DATA_COLOR, Bar, Timeline, axis_ticks, build_timeline
from stations.models import AlarmInterval, LiveStatus, ProgramRun, State, Station, Top

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
SYNCED = datetime(2026, 1, 1, tzinfo=UTC)
RUN, WAIT, BREAKDOWN = 10, 3, 1
#: 100 rows of this stay under 3 MB even for random, evenly mixed states.
SIZE_PER_ROW = 30_000

# ---- factories ---------------------------------------------------------------------------


def station(cwork_id: int = 1, name: str = "Lathe 1", workshop: str = "") -> Station:
    return Station.objects.create(cwork_id=cwork_id, name=name, workshop=workshop, synced_at=SYNCED)


def state(cwork_id: int, name: str, color: str = "", category: int | None = 4) -> State:
    return State.objects.create(
        cwork_id=cwork_id, name=name, color=color, oee_category=category, synced_at=SYNCED
    )


def catalogue() -> None:
    state(RUN, "Production", "#2e7d32", 4)
    state(WAIT, "Waiting", "#f9a825", 3)
    state(BREAKDOWN, "Breakdown", "#c62828", 2)


def top(st: Station, start: datetime, end: datetime | None, state_id: int, comment: str = ""):
    return Top.objects.create(
        station=st, start=start, end=end, state_cwork_id=state_id, comment=comment
    )


def at(hour: int, minute: int = 0, day: int = 24) -> datetime:
    """A plant time on 24 November 2026 (UTC+1), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def end_x(bar: Bar) -> float:
    return bar.x + bar.width


# ---- states ------------------------------------------------------------------------------


def test_bars_are_cut_at_the_period_edges():
    catalogue()
    st = station()
    top(st, at(7), at(9), RUN)
    top(st, at(9), at(15), WAIT)
    top(st, at(15), at(17), RUN)
    tl = build_timeline([st], at(8), at(16), now=at(20), width=800)

    bars = tl.rows[0].states
    assert [b.label for b in bars] == ["Production", "Waiting", "Production"]
    assert bars[0].start == at(8)
    assert bars[0].x == 0
    assert bars[-1].end == at(16)
    assert end_x(bars[-1]) == pytest.approx(800)
    assert bars[1].x == pytest.approx(100)  # 1 h of 8 on 800 units
    assert bars[1].width == pytest.approx(600)
    assert bars[1].color == "#f9a825"
    assert all(b.known for b in bars)


def test_an_open_top_runs_to_now_and_the_future_stays_empty():
    catalogue()
    st = station()
    top(st, at(8), at(10), RUN)
    top(st, at(10), None, BREAKDOWN)
    now = at(12)
    tl = build_timeline([st], at(8), at(16), now=now, width=800)

    last = tl.rows[0].states[-1]
    assert last.label == "Breakdown"
    assert last.end == now
    assert last.ongoing
    assert end_x(last) == pytest.approx(400)  # nothing drawn after now
    assert tl.now_percent == pytest.approx(50)
    assert "now" in tl.rows[0].markup


def test_holes_are_no_data_never_a_state():
    catalogue()
    st = station()
    top(st, at(9), at(10), RUN)
    top(st, at(11), at(12), RUN)
    tl = build_timeline([st], at(8), at(13), now=at(20), width=500)

    bars = tl.rows[0].states
    assert [(b.kind, b.start, b.end) for b in bars] == [
        ("nodata", at(8), at(9)),
        ("state", at(9), at(10)),
        ("nodata", at(10), at(11)),
        ("state", at(11), at(12)),
        ("nodata", at(12), at(13)),
    ]
    assert [b.known for b in bars] == [False, True, False, True, False]
    assert bars[0].label == "No data"
    assert bars[0].color == NO_DATA_COLOR
    assert "kpis-tl-hatch" in tl.rows[0].markup


def test_a_station_without_history_is_all_no_data_up_to_now():
    st = station()
    tl = build_timeline([st], at(8), at(16), now=at(10), width=800)
    (bar,) = tl.rows[0].states
    assert not bar.known
    assert (bar.start, bar.end) == (at(8), at(10))
    assert end_x(bar) == pytest.approx(200)


def test_adjacent_tops_of_one_state_make_one_bar():
    catalogue()
    st = station()
    top(st, at(8), at(9), RUN, "job A")
    top(st, at(9), at(10), RUN, "job B")
    top(st, at(10), at(11), RUN)
    top(st, at(11), at(12), WAIT)
    tl = build_timeline([st], at(8), at(12), now=at(20), width=400)

    bars = tl.rows[0].states
    assert [(b.label, b.start, b.end) for b in bars] == [
        ("Production", at(8), at(11)),
        ("Waiting", at(11), at(12)),
    ]
    assert bars[0].comment == "job A · job B"


def test_unknown_state_and_state_without_colour_are_grey():
    state(RUN, "Production", "", 4)
    st = station()
    top(st, at(8), at(9), RUN)
    top(st, at(9), at(10), 99)
    tl = build_timeline([st], at(8), at(10), now=at(20), width=200)

    bars = tl.rows[0].states
    assert [b.color for b in bars] == ["#9e9e9e", "#9e9e9e"]
    assert bars[1].label == "State 99"


def test_the_live_state_newer_than_the_history_is_drawn():
    catalogue()
    st = station()
    top(st, at(8), None, RUN)
    LiveStatus.objects.create(station=st, state_cwork_id=WAIT, since=at(11), changed_at=at(11))
    tl = build_timeline([st], at(8), at(16), now=at(12), width=800)
    assert [(b.label, b.end) for b in tl.rows[0].states] == [
        ("Production", at(11)),
        ("Waiting", at(12)),
    ]


def test_narrow_pieces_are_pooled_per_column_in_the_main_state():
    catalogue()
    st = station()
    # 100 units over 100 minutes: each column is one minute, of 6 pieces of 10 s.
    start = at(8)
    tops = []
    for i in range(600):
        state_id = WAIT if i % 6 == 5 else RUN  # Production covers 5/6 of every column
        s = start + timedelta(seconds=10 * i)
        tops.append(
            Top(station=st, start=s, end=s + timedelta(seconds=10), state_cwork_id=state_id)
        )
    Top.objects.bulk_create(tops)
    tl = build_timeline([st], start, start + timedelta(minutes=100), now=at(20), width=100)

    (bar,) = tl.rows[0].states
    assert bar.label == "Production"
    assert bar.mixed
    assert (bar.x, bar.width) == (0, 100)
    assert "Mostly Production" in tl.rows[0].markup


# ---- alarms and programs -----------------------------------------------------------------


def test_alarms_together_make_one_bar_and_an_active_alarm_lasts_until_now():
    catalogue()
    st = station()
    AlarmInterval.objects.create(station=st, start=at(9), end=at(10), code="E1", message="Door")
    AlarmInterval.objects.create(station=st, start=at(9, 30), end=at(10, 30), code="E2")
    AlarmInterval.objects.create(station=st, start=at(11), end=None, code="E3", message="Oil")
    tl = build_timeline([st], at(8), at(16), now=at(12), width=800)

    alarms = tl.rows[0].alarms
    assert [(b.start, b.end) for b in alarms] == [(at(9), at(10, 30)), (at(11), at(12))]
    assert "E1 – Door" in alarms[0].label
    assert "E2" in alarms[0].label
    assert alarms[1].label == "E3 – Oil"
    assert alarms[1].ongoing
    assert all(b.kind == "alarm" for b in alarms)


def test_programs_are_the_running_ones_alternating_colours():
    catalogue()
    st = station()
    kind = ProgramRun.Kind
    ProgramRun.objects.create(station=st, kind=kind.RUNNING, name="O100", start=at(8), end=at(9))
    ProgramRun.objects.create(station=st, kind=kind.RUNNING, name="O200", start=at(9), end=None)
    ProgramRun.objects.create(station=st, kind=kind.SELECTED, name="O999", start=at(8), end=None)
    tl = build_timeline([st], at(8), at(16), now=at(10), width=800)

    programs = tl.rows[0].programs
    assert [(b.label, b.start, b.end) for b in programs] == [
        ("O100", at(8), at(9)),
        ("O200", at(9), at(10)),
    ]
    assert programs[0].color != programs[1].color
    assert programs[1].ongoing


# ---- a long period stays light -----------------------------------------------------------


@pytest.mark.slow
def test_ninety_days_of_dense_history_stay_bounded(monkeypatch):
    catalogue()
    stations = [station(i, f"Mill {i}") for i in range(1, 3)]
    start = datetime(2026, 1, 5, tzinfo=UTC)
    end = start + timedelta(days=90)
    rng = random.Random(3)
    step = (end - start) / 20_000
    tops, alarms, programs = [], [], []
    for st in stations:
        for i in range(20_000):
            s = start + step * i
            tops.append(
                Top(station=st, start=s, end=s + step, state_cwork_id=rng.choice([RUN, WAIT, 1]))
            )
            if i % 4 == 0:
                alarms.append(
                    AlarmInterval(station=st, start=s, end=s + step / 2, code=f"E{i % 7}")
                )
                programs.append(
                    ProgramRun(station=st, kind="running", name=f"O{i % 5}", start=s, end=s + step)
                )
    Top.objects.bulk_create(tops, batch_size=5000)
    AlarmInterval.objects.bulk_create(alarms, batch_size=5000)
    ProgramRun.objects.bulk_create(programs, batch_size=5000)

    width = 1600
    tl = build_timeline(stations, start, end, now=end + timedelta(days=1), width=width)
    for row in tl.rows:
        for lane in (row.states, row.alarms, row.programs):
            assert 0 < len(lane) <= width  # at most 2 per pixel column (2 units)
            # In order, never overlapping, inside the drawing.
            for a, b in itertools.pairwise(lane):
                assert end_x(a) <= b.x + 1e-6
            assert lane[0].x >= 0
            assert end_x(lane[-1]) <= width + 1e-6
        # The states cover the period without a hole.
        assert row.states[0].x == 0
        assert end_x(row.states[-1]) == pytest.approx(width)
        assert sum(b.width for b in row.states) == pytest.approx(width)

    # On a page of many stations, each row details its 30 widest bars and draws the rest as
    # one path per state: a row stays within a few tens of kilobytes.
    monkeypatch.setattr(timeline.layout, "DETAIL_BUDGET", 30 * len(stations))
    tl = build_timeline(stations, start, end, now=end + timedelta(days=1), width=width)
    for row in tl.rows:
        markup = str(row.markup)
        assert markup.count("<rect") == 30
        assert "data-pooled" in markup
        assert len(markup.encode()) < SIZE_PER_ROW
    html = render_to_string("kpis/_timeline.html", {"timeline": tl})
    assert html.count('class="tl-row"') == 2


# ---- the axis ----------------------------------------------------------------------------


def test_a_day_has_hourly_ticks_23_in_spring_25_in_autumn():
    spring_start = datetime(2026, 3, 29, tzinfo=PARIS).astimezone(UTC)
    spring_end = datetime(2026, 3, 30, tzinfo=PARIS).astimezone(UTC)
    ticks = axis_ticks(spring_start, spring_end, 2300)
    assert len(ticks) == 23
    labels = [t.label for t in ticks]
    assert "02:00" not in labels
    assert labels[:4] == ["00:00", "01:00", "03:00", "04:00"]
    # 03:00 local is 2 hours after midnight: x from UTC seconds.
    assert ticks[2].x == pytest.approx(200)
    assert all(b.x - a.x == pytest.approx(100) for a, b in itertools.pairwise(ticks))

    autumn_start = datetime(2026, 10, 25, tzinfo=PARIS).astimezone(UTC)
    autumn_end = datetime(2026, 10, 26, tzinfo=PARIS).astimezone(UTC)
    ticks = axis_ticks(autumn_start, autumn_end, 2500)
    assert len(ticks) == 25
    assert [t.label for t in ticks].count("02:00") == 2
    assert ticks[-1].label == "23:00"
    assert ticks[-1].x == pytest.approx(2400)


def test_tick_steps_follow_the_period_length():
    start = datetime(2026, 11, 2, tzinfo=PARIS).astimezone(UTC)  # a Monday
    shift = axis_ticks(start + timedelta(hours=6), start + timedelta(hours=14), 1600)
    assert [t.label for t in shift][:2] == ["06:00", "07:00"]
    assert len(shift) == 8

    week = axis_ticks(start, start + timedelta(days=7), 1600)
    assert len(week) == 7
    assert all(t.major for t in week)

    quarter = axis_ticks(start, start + timedelta(days=90), 1600)
    assert 12 <= len(quarter) <= 14  # weekly
    assert all(t.at.astimezone(PARIS).weekday() == 0 for t in quarter)
    assert all(t.at.astimezone(PARIS).hour == 0 for t in quarter)  # across the DST change
    assert quarter[0].x == 0


# ---- the fragment ------------------------------------------------------------------------


def test_the_fragment_renders_rows_with_details_for_the_panel():
    catalogue()
    st = station(name="Lathe <7>")
    other = station(2, "Mill 2")
    top(st, at(8), at(10), RUN, 'note "quoted"')
    top(st, at(10), None, BREAKDOWN)
    AlarmInterval.objects.create(station=st, start=at(9), end=None, code="E1", message="Door")
    tl = build_timeline([st, other], at(6), at(14), now=at(11), width=1600)
    assert isinstance(tl, Timeline)

    html = render_to_string("kpis/_timeline.html", {"timeline": tl})
    assert "<svg" in html
    assert "Lathe &lt;7&gt;" in html
    assert "Lathe <7>" not in html
    assert "Mill 2" in html
    assert 'data-state="Production"' in html
    assert 'data-start="08:00"' in html
    assert 'data-duration="2 h 00 min"' in html
    assert 'data-comment="note &quot;quoted&quot;"' in html
    assert 'data-state="E1 – Door"' in html
    assert 'role="img"' in html
    assert 'aria-live="polite"' in html
    assert "<title>" in html
    assert html.count('class="tl-row"') == 2
