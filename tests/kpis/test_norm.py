"""The norm's arithmetic (:func:`cwork.oee.compute`) on hand-made tops, answers worked by hand.

Extends tests/cwork/test_oee.py: times in UTC (as the engine passes them), periods across
midnight and both DST nights, calendar breaks, blanks, and aggregation.
"""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cwork.oee import Bucket, Interval, Kpis, ReferenceCount, combine, compute
from kpis.calendar import local
from tests.lookups import present

PARIS = ZoneInfo("Europe/Paris")
P, F, OWN, IND, DIS = (
    Bucket.PRODUCTION,
    Bucket.FAILURE,
    Bucket.OWN_STOP,
    Bucket.INDUCED_STOP,
    Bucket.DISENGAGED,
)
DAY = date(2026, 11, 24)  # a Tuesday in winter: Paris is UTC+1


def at(hhmm: str, day: date = DAY) -> datetime:
    """A Paris wall-clock time as the UTC instant the engine works with."""
    hours, minutes = hhmm.split(":")
    return local(day, time(int(hours), int(minutes)), PARIS)


def iv(start: datetime, end: datetime, bucket: Bucket) -> Interval:
    return Interval(start, end, bucket)


def run(start, end, intervals, opening=None, references=(), **options) -> Kpis:
    return compute(
        start=start,
        end=end,
        intervals=intervals,
        opening=[(start, end)] if opening is None else opening,
        references=list(references),
        **options,
    )


# -- periods cut mid-top ------------------------------------------------------------------


def test_a_period_inside_one_long_top_takes_only_its_share():
    # Production 06:00–14:00; the period 09:15–10:45 (5400 s) sees 5400 s of it.
    k = run(at("09:15"), at("10:45"), [iv(at("06:00"), at("14:00"), P)])
    assert (k.at, k.ot, k.ppt, k.rt) == (5400, 5400, 5400, 5400)
    assert k.availability == 1


def test_a_failure_cut_by_both_edges_counts_its_time_in_each_period_but_once():
    # Failure 09:40–10:20, production around it; periods 09:00–10:00 and 10:00–11:00.
    tops = [
        iv(at("06:00"), at("09:40"), P),
        iv(at("09:40"), at("10:20"), F),
        iv(at("10:20"), at("14:00"), P),
    ]
    first = run(at("09:00"), at("10:00"), tops)
    second = run(at("10:00"), at("11:00"), tops)
    # First hour: FT = 20 min = 1200, RT = 40 min = 2400; the failure starts here: counted.
    assert (first.ft, first.rt, first.failures) == (1200, 2400, 1)
    assert first.mttr == 1200
    # Second hour: FT = 1200, RT = 2400, but the failure started before: not counted again.
    assert (second.ft, second.rt, second.failures) == (1200, 2400, 0)
    assert second.mttr is None
    # Together: one failure of 2400 s, as over the two hours at once.
    both = combine([first, second])
    whole = run(at("09:00"), at("11:00"), tops)
    assert (
        (both.ft, both.failures, both.rt)
        == (whole.ft, whole.failures, whole.rt)
        == (
            2400,
            1,
            4800,
        )
    )


def test_a_top_open_until_now_and_the_period_cut_at_now():
    # A shift 06:00–14:00; it is 10:00: production 06:00–09:00, own stop since 09:00, still
    # open (its end is "now").
    now = at("10:00")
    tops = [iv(at("06:00"), at("09:00"), P), iv(at("09:00"), now, OWN)]
    cut = run(at("06:00"), now, tops, opening=[(at("06:00"), at("14:00"))])
    # Cut at now: AT = OT = PPT = 4 h = 14400, RT = 3 h = 10800: availability 75 %.
    assert (cut.at, cut.ot, cut.ppt, cut.rt) == (14400, 14400, 14400, 10800)
    assert cut.availability == pytest.approx(0.75)
    # Not cut: the four hours still to come would count as required time without
    # production (unknown = stop), halving availability: 10800 / 28800 = 37.5 %.
    uncut = run(at("06:00"), at("14:00"), tops)
    assert uncut.availability == pytest.approx(0.375)


# -- midnight and DST --------------------------------------------------------------------


NIGHT_TOPS = [
    # Night 21:00 → 05:00: production until 01:00, failure 01:00–01:30, production after.
    ("21:00", 0, "01:00", 1, P),
    ("01:00", 1, "01:30", 1, F),
    ("01:30", 1, "05:00", 1, P),
]


def night(day: date, refs=()) -> Kpis:
    nxt = day + timedelta(days=1)
    tops = [
        iv(at(s, day + timedelta(days=ds)), at(e, day + timedelta(days=de)), b)
        for s, ds, e, de, b in NIGHT_TOPS
    ]
    return run(at("21:00", day), at("05:00", nxt), tops, references=refs)


def test_a_night_shift_across_midnight_and_split_at_midnight():
    k = night(DAY, [ReferenceCount(400, 392, 60)])
    # 8 h = 28800; RT = 4 h + 3.5 h = 27000; FT = 1800
    assert (k.at, k.ot, k.ppt, k.rt, k.ft, k.failures) == (28800, 28800, 28800, 27000, 1800, 1)
    # tN = 400 × 60 = 24000, tU = 392 × 60 = 23520
    assert k.performance == pytest.approx(24000 / 27000)
    assert k.oee == pytest.approx(23520 / 28800)
    # The same night as two calendar days (before and after midnight), combined: same times.
    midnight = at("00:00", DAY + timedelta(days=1))
    tops = [
        iv(at("21:00"), midnight + timedelta(hours=1), P),
        iv(midnight + timedelta(hours=1), midnight + timedelta(hours=1, minutes=30), F),
        iv(midnight + timedelta(hours=1, minutes=30), midnight + timedelta(hours=5), P),
    ]
    before = run(at("21:00"), midnight, tops)  # 3 h, all production
    after = run(midnight, midnight + timedelta(hours=5), tops)  # 5 h: 4.5 h production
    assert (before.at, before.rt) == (10800, 10800)
    assert (after.at, after.rt, after.ft, after.failures) == (18000, 16200, 1800, 1)
    both = combine([before, after])
    assert (both.at, both.ppt, both.rt, both.ft, both.failures) == (28800, 28800, 27000, 1800, 1)


def test_the_spring_forward_night_lasts_seven_hours():
    # 2026-03-28 21:00 CET (20:00 UTC) → 2026-03-29 05:00 CEST (03:00 UTC): 7 h.
    day = date(2026, 3, 28)
    assert at("21:00", day) == datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
    assert at("05:00", day + timedelta(days=1)) == datetime(2026, 3, 29, 3, 0, tzinfo=UTC)
    k = night(day, [ReferenceCount(350, 350, 60)])
    # Production 21:00 → 01:00 CET = 4 h, failure 01:00–01:30, production 01:30 CET →
    # 05:00 CEST = 2.5 h (the clocks skip 02:00–03:00): RT = 6.5 h = 23400, FT = 1800.
    assert (k.at, k.ot, k.ppt) == (25200, 25200, 25200)
    assert (k.rt, k.ft) == (23400, 1800)
    # tN = 350 × 60 = 21000: performance 21000 / 23400, OEE 21000 / 25200
    assert k.performance == pytest.approx(21000 / 23400)
    assert k.oee == pytest.approx(21000 / 25200)
    assert k.availability == pytest.approx(23400 / 25200)


def test_the_fall_back_night_lasts_nine_hours():
    # 2026-10-24 21:00 CEST (19:00 UTC) → 2026-10-25 05:00 CET (04:00 UTC): 9 h.
    day = date(2026, 10, 24)
    assert at("21:00", day) == datetime(2026, 10, 24, 19, 0, tzinfo=UTC)
    assert at("05:00", day + timedelta(days=1)) == datetime(2026, 10, 25, 4, 0, tzinfo=UTC)
    k = night(day, [ReferenceCount(450, 441, 60)])
    # Production 21:00 → 01:00 CEST = 4 h; failure 01:00–01:30 CEST; production 01:30 CEST
    # → 05:00 CET = 4.5 h (02:00–03:00 happens twice): RT = 8.5 h = 30600, AT = 32400.
    assert (k.at, k.ot, k.ppt, k.rt, k.ft) == (32400, 32400, 32400, 30600, 1800)
    # tN = 450 × 60 = 27000, tU = 441 × 60 = 26460
    assert k.performance == pytest.approx(27000 / 30600)
    assert k.quality == pytest.approx(0.98)
    assert k.oee == pytest.approx(26460 / 32400)


# -- no data -------------------------------------------------------------------------------


def test_a_station_with_no_data_leaves_blank_what_is_unknown():
    # Open 06:00–14:00, no tops, no parts known.
    k = run(at("06:00"), at("14:00"), [])
    assert (k.at, k.ot, k.ppt, k.rt, k.ft, k.failures) == (28800, 28800, 28800, 0, 0, 0)
    for blank in ("nrt", "fpt", "performance", "quality", "oee", "gee", "teep", "mtbf", "mttr"):
        assert getattr(k, blank) is None, blank
    assert k.hardware_availability is None  # 0 / (0 + 0): undefined, not 0 nor 1
    # No state at all: availability is unknown, blank rather than 0 %.
    assert k.availability is None
    body = k.as_cwork()
    assert body["Rates"]["OEE"] is None
    assert body["Rates"]["Quality"] is None
    assert body["Times"]["MTBF"] is None


def test_a_machine_without_data_blanks_the_availability_of_a_total():
    # One machine produced all its 8 h, the other sent nothing. The total must neither claim
    # 100 % (ignoring the silent one) nor 50 % (taking its unknown time as a stop).
    ran = run(at("06:00"), at("14:00"), [iv(at("06:00"), at("14:00"), Bucket.PRODUCTION)])
    silent = run(at("06:00"), at("14:00"), [])
    closed = run(at("06:00"), at("14:00"), [], opening=[])
    assert ran.availability == 1
    assert silent.availability is None
    assert combine([ran, silent]).availability is None
    # A machine whose workshop was closed has no opening to cover: it blanks nothing.
    assert combine([ran, closed]).availability == 1


def test_no_data_over_a_closed_period_is_all_blank():
    # A Sunday with no shift: no opening, no tops. Only AT and involvement (0 / AT) are known.
    k = run(at("06:00"), at("14:00"), [], opening=[])
    assert (k.at, k.ot, k.ppt) == (28800, 0, 0)
    assert k.involvement == 0
    for blank in ("availability", "performance", "quality", "oee", "gee", "load"):
        assert getattr(k, blank) is None, blank


# -- the identity --------------------------------------------------------------------------


IDENTITY_CASES = {
    "perfect hour": ([("06:00", "07:00", P)], [ReferenceCount(60, 60, 60)]),
    "stops and scrap": (
        [("06:00", "07:10", P), ("07:10", "07:25", F), ("07:25", "08:00", OWN)],
        [ReferenceCount(55, 50, 70)],
    ),
    "two references": (
        [("06:00", "06:45", P), ("06:45", "07:00", IND), ("07:00", "08:00", P)],
        [ReferenceCount(30, 29, 80), ReferenceCount(100, 97, 20)],
    ),
    "meeting and overspeed": (
        [("06:00", "06:30", DIS), ("06:30", "08:00", P)],
        [ReferenceCount(120, 118, 50)],  # tN 6000 > RT 5400: performance 1.11
    ),
}


@pytest.mark.parametrize("case", IDENTITY_CASES, ids=list(IDENTITY_CASES))
def test_oee_is_availability_times_performance_times_quality(case):
    tops, refs = IDENTITY_CASES[case]
    k = run(at("06:00"), at("08:00"), [iv(at(s), at(e), b) for s, e, b in tops], references=refs)
    assert k.availability is not None
    assert k.performance is not None
    assert k.quality is not None
    assert k.oee is not None
    assert k.load is not None
    assert k.gee is not None
    assert k.involvement is not None
    assert k.oee > 0
    assert k.oee == pytest.approx(k.availability * k.performance * k.quality)
    assert k.gee == pytest.approx(k.oee * k.load)
    assert k.teep == pytest.approx(k.gee * k.involvement)


# -- calendar breaks -----------------------------------------------------------------------


DAY_OPEN = [(at("07:30"), at("16:00"))]  # 8.5 h = 30600
LUNCH = [(at("12:00"), at("12:30"))]  # 1800


def day_shift(tops, breaks=LUNCH) -> Kpis:
    return run(
        at("07:30"),
        at("16:00"),
        [iv(at(s), at(e), b) for s, e, b in tops],
        opening=DAY_OPEN,
        breaks=breaks,
    )


def test_a_stop_during_the_break_is_the_break():
    # Production 07:30–11:00 (12600), own stop 11:00–12:15 (4500, of which 12:00–12:15 = 900
    # is in the break), production 12:15–16:00 (13500, of which 12:15–12:30 = 900 in it).
    k = day_shift([("07:30", "11:00", P), ("11:00", "12:15", OWN), ("12:15", "16:00", P)])
    # Break: 900 s stopped (disengaged) + 900 s produced (run time): PPT = 30600 − 900.
    assert (k.ot, k.ppt, k.rt) == (30600, 29700, 26100)
    # The stops left in PPT: 29700 − 26100 = 3600 = 11:00–12:00 only.
    assert k.ppt - k.rt == 3600
    # A stop covering the whole break: the whole 1800 s is the break.
    whole = day_shift([("07:30", "11:00", P), ("11:00", "13:00", F), ("13:00", "16:00", P)])
    assert (whole.ppt, whole.rt, whole.ft) == (28800, 23400, 5400)  # FT = 7200 − 1800
    # Without the calendar's break the same stop is all stop: PPT = 30600, FT = 7200.
    plain = day_shift([("07:30", "11:00", P), ("11:00", "13:00", F), ("13:00", "16:00", P)], ())
    assert (plain.ppt, plain.ft) == (30600, 7200)


def test_production_through_the_break_is_run_time():
    k = day_shift([("07:30", "16:00", P)])
    assert (k.ppt, k.rt) == (30600, 30600)
    assert k.availability == 1


def test_a_break_state_during_the_break_is_not_counted_twice():
    # The machine shows a disengaged "Break" state 12:00–12:30: 1800 s out of PPT, once.
    k = day_shift([("07:30", "12:00", P), ("12:00", "12:30", DIS), ("12:30", "16:00", P)])
    assert (k.ppt, k.rt) == (28800, 28800)


def test_a_break_outside_opening_does_nothing():
    tops = [("07:30", "11:00", P), ("11:00", "12:15", OWN), ("12:15", "16:00", P)]
    evening = day_shift(tops, [(at("17:00"), at("17:30"))])
    none = day_shift(tops, ())
    assert evening == none
    assert (none.ppt, none.rt) == (30600, 26100)
    # A break that straddles the end of opening counts only inside it: 15:45–16:00 = 900.
    edge = day_shift([("07:30", "15:45", P), ("15:45", "16:30", IND)], [(at("15:45"), at("16:15"))])
    assert (edge.ppt, edge.rt) == (30600 - 900, 29700)
    assert edge.availability == 1


# -- micro-stops, performance -----------------------------------------------------------


def test_failures_are_never_micro_stops_and_the_threshold_is_strict():
    # 06:00–07:00: production, a 30 s failure at 06:20, a 60 s own stop at 06:40.
    f0, f1 = at("06:20"), at("06:20") + timedelta(seconds=30)
    s0, s1 = at("06:40"), at("06:40") + timedelta(seconds=60)
    tops = [
        iv(at("06:00"), f0, P),
        iv(f0, f1, F),
        iv(f1, s0, P),
        iv(s0, s1, OWN),
        iv(s1, at("07:00"), P),
    ]
    # Threshold 120 s: the 60 s stop becomes run time, the failure stays: RT = 3600 − 30.
    k = run(at("06:00"), at("07:00"), tops, micro_stop_threshold=120)
    assert (k.rt, k.ft, k.failures) == (3570, 30, 1)
    # Threshold exactly 60 s: a 60 s stop is not shorter than it, still a stop: RT = 3510.
    k = run(at("06:00"), at("07:00"), tops, micro_stop_threshold=60)
    assert k.rt == 3510


def test_performance_above_one_is_kept_with_everything_built_on_it():
    # 2 h open, 1 h 30 production, 30 min waiting; 100 parts at tCR 60 s = 6000 s > RT 5400.
    k = run(
        at("06:00"),
        at("08:00"),
        [iv(at("06:00"), at("07:30"), P), iv(at("07:30"), at("08:00"), IND)],
        references=[ReferenceCount(100, 95, 60)],
    )
    assert k.performance == pytest.approx(6000 / 5400)  # 1.111, not clamped to 1
    assert k.availability == pytest.approx(0.75)
    assert k.oee == pytest.approx(5700 / 7200)  # tU = 95 × 60 = 5700
    assert present(k.oee) > present(k.availability)  # only possible with performance over 100 %
    assert k.as_cwork()["Rates"]["Performance"] == 1.1111


# -- aggregation ---------------------------------------------------------------------------


def test_combined_oee_is_not_the_average_of_oees():
    # A: 1 h required, all production, 54 good parts of 60 s: tU 3240, OEE 0.9.
    a = run(
        at("06:00"),
        at("07:00"),
        [iv(at("06:00"), at("07:00"), P)],
        references=[ReferenceCount(54, 54, 60)],
    )
    # B: 7 h required, all production, 126 good parts of 60 s: tU 7560, OEE 0.3.
    b = run(
        at("06:00"),
        at("13:00"),
        [iv(at("06:00"), at("13:00"), P)],
        references=[ReferenceCount(126, 126, 60)],
    )
    assert (a.oee, b.oee) == pytest.approx((0.9, 0.3))
    both = combine([a, b])
    # Σ tU / Σ tR = (3240 + 7560) / (3600 + 25200) = 10800 / 28800 = 0.375
    assert both.oee == pytest.approx(0.375)
    assert statistics.mean([present(a.oee), present(b.oee)]) == pytest.approx(
        0.6
    )  # the wrong answer
    assert both.oee != pytest.approx(statistics.mean([present(a.oee), present(b.oee)]))
    # Availability and performance are combined from times too: (3600 + 25200) / 28800.
    assert both.availability == 1
    assert both.performance == pytest.approx(10800 / 28800)
