"""The KPI norm on hand-made examples whose answers are worked out in the comments."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypedDict, Unpack
from zoneinfo import ZoneInfo

import pytest

from cwork.oee import (
    Bucket,
    Interval,
    Kpis,
    ReferenceCount,
    combine,
    compute,
    default_bucket,
)

PARIS = ZoneInfo("Europe/Paris")
DAY = datetime(2024, 4, 3, tzinfo=PARIS)  # a Wednesday
P, F, OWN, IND, DIS = (
    Bucket.PRODUCTION,
    Bucket.FAILURE,
    Bucket.OWN_STOP,
    Bucket.INDUCED_STOP,
    Bucket.DISENGAGED,
)


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return DAY + timedelta(hours=int(hours), minutes=int(minutes))


def iv(start: str, end: str, bucket: Bucket) -> Interval:
    return Interval(at(start), at(end), bucket)


#: An 8 h shift, 06:00–14:00, minute by minute:
#:   06:00–06:30 disengaged (team meeting)         1800 s
#:   06:30–08:30 production                        7200 s
#:   08:30–09:00 failure                           1800 s
#:   09:00–11:00 production                        7200 s
#:   11:00–11:20 own stop (setting)                1200 s
#:   11:20–13:00 production                        6000 s
#:   13:00–13:15 induced stop (no material)         900 s
#:   13:15–14:00 production                        2700 s
SHIFT = [
    iv("06:00", "06:30", DIS),
    iv("06:30", "08:30", P),
    iv("08:30", "09:00", F),
    iv("09:00", "11:00", P),
    iv("11:00", "11:20", OWN),
    iv("11:20", "13:00", P),
    iv("13:00", "13:15", IND),
    iv("13:15", "14:00", P),
]
SHIFT_OPENING = [(at("06:00"), at("14:00"))]
#: Two references: 200 made (196 good) at tCR 60 s, 100 made (98 good) at tCR 90 s.
#:   tN = 200×60 + 100×90 = 12000 + 9000 = 21000 s; tU = 196×60 + 98×90 = 11760 + 8820 = 20580 s
SHIFT_REFS = [ReferenceCount(200, 196, 60.0), ReferenceCount(100, 98, 90.0)]


class ComputeArguments(TypedDict):
    """``compute``'s arguments a case sets (the shift's, the micro-stop cases')."""

    start: datetime
    end: datetime
    intervals: list[Interval]
    opening: list[tuple[datetime, datetime]]
    references: list[ReferenceCount]


class ShiftChanges(TypedDict, total=False):
    """What a case changes of the shift's ``compute`` arguments."""

    start: datetime
    end: datetime
    intervals: list[Interval]
    references: list[ReferenceCount]


def shift_kpis(**kwargs: Unpack[ShiftChanges]) -> Kpis:
    params: ComputeArguments = {
        "start": at("06:00"),
        "end": at("14:00"),
        "intervals": SHIFT,
        "opening": SHIFT_OPENING,
        "references": SHIFT_REFS,
    }
    params.update(kwargs)
    return compute(**params)


def test_eight_hour_shift_worked_example() -> None:
    k = shift_kpis()
    # AT = OT = 8 h = 28800; PPT = 28800 − 1800 (meeting) = 27000
    assert (k.at, k.ot, k.ppt) == (28800, 28800, 27000)
    # RT = 7200 + 7200 + 6000 + 2700 = 23100; FT = 1800; one failure
    assert (k.rt, k.ft, k.failures) == (23100, 1800, 1)
    assert (k.nrt, k.fpt) == (21000, 20580)
    assert k.availability == pytest.approx(23100 / 27000)  # 0.8556
    assert k.performance == pytest.approx(21000 / 23100)  # 0.9091
    assert k.quality == pytest.approx(20580 / 21000)  # 0.98
    assert k.oee == pytest.approx(20580 / 27000)  # 0.7622
    assert k.gee == pytest.approx(20580 / 28800)  # 0.7146
    assert k.teep == pytest.approx(20580 / 28800)  # AT = OT here
    assert k.load == pytest.approx(27000 / 28800)  # 0.9375
    assert k.requisition == pytest.approx(27000 / 28800)
    assert k.involvement == 1
    assert k.mtbf == 23100  # RT / 1 failure
    assert k.mttr == 1800  # FT / 1 failure
    assert k.hardware_availability == pytest.approx(23100 / (23100 + 1800))  # 0.9277


def test_as_cwork_has_the_api_shape_and_rounding() -> None:
    body = shift_kpis().as_cwork()
    assert body["Times"] == {
        "AT": 28800,
        "OT": 28800,
        "PPT": 27000,
        "RT": 23100,
        "NRT": 21000,
        "FPT": 20580,
        "FT": 1800,
        "MTBF": 23100,
        "MTTR": 1800,
    }
    assert body["Rates"] == {
        "TEEP": 0.7146,
        "GEE": 0.7146,
        "OEE": 0.7622,
        "Performance": 0.9091,
        "Quality": 0.98,
        "Availability": 0.8556,
        "Requisition": 0.9375,
        "Load": 0.9375,
        "Involvement": 1.0,
        "HardwareAvailability": 0.9277,
    }
    assert all(isinstance(v, int) for v in body["Times"].values())


def test_oee_is_availability_times_performance_times_quality() -> None:
    k = shift_kpis()
    assert k.availability is not None
    assert k.performance is not None
    assert k.quality is not None
    assert k.oee is not None
    assert k.load is not None
    assert k.involvement is not None
    assert k.oee == pytest.approx(k.availability * k.performance * k.quality)
    assert k.gee == pytest.approx(k.oee * k.load)  # TRG = TRS × TC
    assert k.teep == pytest.approx(k.oee * k.load * k.involvement)  # TRE = TRS × TC × TS


def test_period_cutting_intervals_in_the_middle() -> None:
    # 08:00–10:00: production 08:00–08:30 (cut from 06:30), failure 08:30–09:00,
    # production 09:00–10:00 (cut from 11:00). AT = OT = PPT = 7200, RT = 1800 + 3600 = 5400.
    k = shift_kpis(start=at("08:00"), end=at("10:00"), references=[])
    assert (k.at, k.ot, k.ppt, k.rt, k.ft) == (7200, 7200, 7200, 5400, 1800)
    assert k.failures == 1  # it starts at 08:30, inside the period
    assert k.availability == pytest.approx(0.75)
    # 08:45–10:00: the failure's last 15 min count in FT, but it started before: not counted.
    k = shift_kpis(start=at("08:45"), end=at("10:00"), references=[])
    assert (k.at, k.rt, k.ft, k.failures) == (4500, 3600, 900, 0)
    assert k.mtbf is None
    assert k.mttr is None


def test_calendar_day_with_closure_outside_opening() -> None:
    # The whole day (AT = 86400) of a shop open 06:00–14:00 (OT = 28800). The machine's
    # disengaged tops at night lie outside opening time and do not count anywhere.
    night = [iv("00:00", "06:00", DIS), *SHIFT, Interval(at("14:00"), DAY + timedelta(days=1), DIS)]
    k = shift_kpis(start=DAY, end=DAY + timedelta(days=1), intervals=night)
    assert (k.at, k.ot, k.ppt, k.rt) == (86400, 28800, 27000, 23100)
    assert k.involvement == pytest.approx(1 / 3)  # TS = 28800 / 86400
    assert k.requisition == pytest.approx(27000 / 86400)
    assert k.teep == pytest.approx(20580 / 86400)  # TRE
    assert k.gee == pytest.approx(20580 / 28800)  # TRG unchanged


def test_production_outside_opening_is_ignored() -> None:
    # Production 05:00–07:00 but the shop opens at 06:00: only 06:00–07:00 counts.
    k = compute(
        start=at("05:00"),
        end=at("07:00"),
        intervals=[iv("05:00", "07:00", P)],
        opening=[(at("06:00"), at("14:00"))],
        references=[],
    )
    assert (k.at, k.ot, k.ppt, k.rt) == (7200, 3600, 3600, 3600)


def test_zero_failures_blank_mtbf_mttr() -> None:
    k = compute(
        start=at("06:00"),
        end=at("08:00"),
        intervals=[iv("06:00", "07:00", P), iv("07:00", "07:30", OWN), iv("07:30", "08:00", P)],
        opening=[(at("06:00"), at("08:00"))],
        references=[ReferenceCount(50, 50, 60)],
    )
    assert k.failures == 0
    assert k.ft == 0
    assert k.mtbf is None
    assert k.mttr is None
    assert k.hardware_availability == 1.0  # RT / (RT + 0)
    assert k.as_cwork()["Times"]["MTBF"] is None


def test_no_references_gives_blanks_not_zeros() -> None:
    k = shift_kpis(references=[])
    assert k.nrt is None
    assert k.fpt is None
    assert k.performance is None
    assert k.quality is None
    assert k.oee is None
    assert k.gee is None
    assert k.teep is None
    assert k.availability == pytest.approx(23100 / 27000)  # still known
    rates = k.as_cwork()["Rates"]
    assert rates["OEE"] is None
    assert rates["Performance"] is None
    assert rates["Quality"] is None
    assert k.as_cwork()["Times"]["NRT"] is None


def test_unknown_good_parts_blank_quality_only() -> None:
    k = shift_kpis(references=[ReferenceCount(200, 196, 60.0), ReferenceCount(100, None, 90.0)])
    assert k.nrt == 21000
    assert k.performance == pytest.approx(21000 / 23100)
    assert k.fpt is None
    assert k.quality is None
    assert k.oee is None


def test_parts_without_reference_time_cannot_be_valued() -> None:
    k = shift_kpis(references=[ReferenceCount(200, 196, 60.0), ReferenceCount(10, 10, 0.0)])
    assert k.nrt is None
    assert k.performance is None
    # A reference with no parts needs no tCR.
    k = shift_kpis(references=[*SHIFT_REFS, ReferenceCount(0, 0, 0.0)])
    assert k.nrt == 21000


def test_zero_denominators_are_blank() -> None:
    # A fully disengaged opening: PPT = 0, so availability and OEE are undefined; RT = 0 too.
    k = compute(
        start=at("06:00"),
        end=at("08:00"),
        intervals=[iv("06:00", "08:00", DIS)],
        opening=[(at("06:00"), at("08:00"))],
        references=[ReferenceCount(0, 0, 60)],
    )
    assert (k.ot, k.ppt, k.rt) == (7200, 0, 0)
    assert k.load == 0
    assert k.availability is None
    assert k.oee is None
    assert k.performance is None
    assert k.quality is None  # 0 good / 0 made
    assert k.hardware_availability is None
    # An empty period.
    empty = compute(start=at("06:00"), end=at("06:00"), intervals=[], opening=[], references=[])
    assert empty.at == 0
    assert empty.involvement is None
    assert empty.teep is None


def test_performance_above_one_is_kept() -> None:
    # 1 h of production made 70 parts of tCR 60 s: tN = 4200 > tF = 3600 (a pessimistic tCR).
    k = compute(
        start=at("06:00"),
        end=at("07:00"),
        intervals=[iv("06:00", "07:00", P)],
        opening=[(at("06:00"), at("07:00"))],
        references=[ReferenceCount(70, 70, 60)],
    )
    assert k.performance == pytest.approx(4200 / 3600)  # 1.1667, not clamped
    assert k.oee == pytest.approx(4200 / 3600)
    assert k.as_cwork()["Rates"]["Performance"] == 1.1667


def test_uncovered_open_time_is_a_stop() -> None:
    # Open 06:00–08:00, only 06:00–07:00 known (production): the unknown hour is required
    # time without production.
    k = compute(
        start=at("06:00"),
        end=at("08:00"),
        intervals=[iv("06:00", "07:00", P)],
        opening=[(at("06:00"), at("08:00"))],
        references=[],
    )
    assert (k.ppt, k.rt) == (7200, 3600)
    assert k.availability == 0.5


def test_micro_stops_norm_default_and_threshold() -> None:
    # Production 06:00–06:50, a 60 s tool change, production 06:51–07:00; 3 min waiting later.
    intervals = [
        Interval(at("06:00"), at("06:50"), P),
        Interval(at("06:50"), at("06:51"), OWN),
        Interval(at("06:51"), at("07:00"), P),
        Interval(at("07:00"), at("07:03"), IND),
        Interval(at("07:03"), at("07:10"), P),
    ]
    params: ComputeArguments = {
        "start": at("06:00"),
        "end": at("07:10"),
        "intervals": intervals,
        "opening": [(at("06:00"), at("07:10"))],
        "references": [ReferenceCount(60, 60, 60)],  # tN = 3600
    }
    # The norm: every stop is a stop. RT = 4200 − 60 − 180 = 3960.
    norm = compute(**params)
    assert norm.rt == 3960
    assert norm.availability == pytest.approx(3960 / 4200)
    # Threshold 120 s: the 60 s tool change becomes run time (lost to performance), the 3 min
    # wait stays a stop. RT = 4200 − 180 = 4020.
    tuned = compute(micro_stop_threshold=120, **params)
    assert tuned.rt == 4020
    assert tuned.performance == pytest.approx(3600 / 4020)
    assert tuned.oee == norm.oee  # tU / tR does not move: the loss only changes column
    # A stop cut by the period edge keeps its real length: 06:50:30–07:10 (1170 s) sees 30 s
    # of the tool change, still a 60 s stop, so not a micro-stop at a 45 s threshold.
    # RT = 1170 − 30 − 180 = 960.
    edge = compute(
        micro_stop_threshold=45, **(params | {"start": at("06:50") + timedelta(seconds=30)})
    )
    assert edge.rt == 960


def test_failures_merge_when_adjacent() -> None:
    # Breakdown 08:30–08:40 then its child "Spindle failure" 08:40–09:00: one failure;
    # a second one 10:00–10:10: two in all. FT = 1800 + 600 = 2400, MTTR = 1200.
    intervals = [
        iv("08:00", "08:30", P),
        iv("08:30", "08:40", F),
        iv("08:40", "09:00", F),
        iv("09:00", "10:00", P),
        iv("10:00", "10:10", F),
        iv("10:10", "11:00", P),
    ]
    k = compute(
        start=at("08:00"),
        end=at("11:00"),
        intervals=intervals,
        opening=[(at("06:00"), at("14:00"))],
        references=[],
    )
    assert (k.failures, k.ft, k.rt) == (2, 2400, 8400)
    assert k.mttr == 1200
    assert k.mtbf == 4200


def test_overlapping_intervals_first_one_wins() -> None:
    k = compute(
        start=at("06:00"),
        end=at("08:00"),
        intervals=[iv("06:00", "07:30", P), iv("07:00", "08:00", OWN)],
        opening=[(at("06:00"), at("08:00"))],
        references=[],
    )
    assert k.rt == 5400  # 06:00–07:30; the stop counts from 07:30 only


def test_combine_sums_times_never_averages_rates() -> None:
    a = shift_kpis()  # OEE 0.7622 over PPT 27000
    b = compute(
        start=at("06:00"),
        end=at("07:00"),
        intervals=[iv("06:00", "07:00", P)],
        opening=[(at("06:00"), at("07:00"))],
        references=[ReferenceCount(30, 30, 60)],  # tU = 1800, PPT = 3600: OEE 0.5
    )
    both = combine([a, b])
    assert both.ppt == 30600
    assert both.fpt == 22380
    assert both.failures == 1
    assert both.oee == pytest.approx(22380 / 30600)  # 0.7314, not (0.7622 + 0.5) / 2
    assert combine([a, shift_kpis(references=[])]).oee is None
    assert combine([]).at == 0


def test_default_bucket() -> None:
    assert default_bucket(4, is_failure=False) is Bucket.PRODUCTION
    assert default_bucket(1, is_failure=False) is Bucket.DISENGAGED
    assert default_bucket(3, is_failure=False) is Bucket.INDUCED_STOP
    assert default_bucket(2, is_failure=False) is Bucket.OWN_STOP
    assert default_bucket(2, is_failure=True) is Bucket.FAILURE
    assert default_bucket(0, is_failure=False) is Bucket.OWN_STOP  # unknown: a stop
    assert default_bucket(7, is_failure=True) is Bucket.OWN_STOP


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        compute(start=at("08:00"), end=at("07:00"), intervals=[], opening=[], references=[])
    with pytest.raises(ValueError, match="more good parts"):
        shift_kpis(references=[ReferenceCount(10, 11, 60)])
    with pytest.raises(ValueError, match="negative"):
        shift_kpis(references=[ReferenceCount(-1, 0, 60)])
