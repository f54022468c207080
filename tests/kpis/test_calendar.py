"""Shift occurrences from the calendar: patterns, nights, DST, exceptions, and the models."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from kpis.calendar import (
    ALWAYS_OPEN,
    Calendars,
    CalendarSpec,
    ExceptionSpec,
    ShiftSpec,
    find,
    load_calendars,
    local,
    occurrences,
    opening,
    previous_shift,
    same_shift_days_before,
    shift_at,
)
from kpis.models import Break, Calendar, CalendarException, Shift
from tests.lookups import present

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
MONDAY = date(2026, 11, 23)
TUESDAY = MONDAY + timedelta(days=1)
WEDNESDAY = MONDAY + timedelta(days=2)
FRIDAY = MONDAY + timedelta(days=4)
SATURDAY = MONDAY + timedelta(days=5)
NEXT_MONDAY = MONDAY + timedelta(days=7)


def at(day: date, hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return local(day, time(int(hours), int(minutes)), PARIS)


def three_by_eight(days=WEEKDAYS, exceptions=()) -> CalendarSpec:
    return CalendarSpec(
        "3×8",
        (
            ShiftSpec("Morning", time(5), time(13), days),
            ShiftSpec("Afternoon", time(13), time(21), days),
            ShiftSpec("Night", time(21), time(5), days),
        ),
        tuple(exceptions),
    )


def two_by_eight(exceptions=()) -> CalendarSpec:
    return CalendarSpec(
        "2×8",
        (
            ShiftSpec("Morning", time(5), time(13), WEEKDAYS),
            ShiftSpec("Afternoon", time(13), time(21), WEEKDAYS),
        ),
        tuple(exceptions),
    )


def day_shift(exceptions=()) -> CalendarSpec:
    return CalendarSpec(
        "Day",
        (ShiftSpec("Day", time(7, 30), time(16), WEEKDAYS, ((time(12), time(12, 30)),)),),
        tuple(exceptions),
    )


def occ_of(spec, day, zone=PARIS):
    """Occurrences over one local day, as (name, local start, local end) strings."""
    return [
        (
            o.name,
            o.start.astimezone(zone).strftime("%a %H:%M"),
            o.end.astimezone(zone).strftime("%a %H:%M"),
        )
        for o in occurrences(spec, at(day, "00:00"), at(day + timedelta(days=1), "00:00"), PARIS)
    ]


def seconds(spans) -> float:
    return sum((e - s).total_seconds() for s, e in spans)


# -- patterns --------------------------------------------------------------------------------


def test_three_by_eight_covers_a_weekday_and_the_week_without_weekend():
    # A Wednesday overlaps Tuesday's night (until 05:00) and its own three shifts.
    assert occ_of(three_by_eight(), WEDNESDAY) == [
        ("Night", "Tue 21:00", "Wed 05:00"),
        ("Morning", "Wed 05:00", "Wed 13:00"),
        ("Afternoon", "Wed 13:00", "Wed 21:00"),
        ("Night", "Wed 21:00", "Thu 05:00"),
    ]
    opens, breaks = opening(three_by_eight(), at(WEDNESDAY, "00:00"), at(WEDNESDAY, "23:59"), PARIS)
    assert opens == [(at(WEDNESDAY, "00:00"), at(WEDNESDAY, "23:59"))]
    assert breaks == []
    # Monday 05:00 to Saturday 05:00: 5 × 24 h open; Saturday, Sunday and Monday's first
    # five hours closed.
    week, _ = opening(three_by_eight(), at(MONDAY, "00:00"), at(NEXT_MONDAY, "00:00"), PARIS)
    assert week == [(at(MONDAY, "05:00"), at(SATURDAY, "05:00"))]
    assert seconds(week) == 5 * 86400


def test_two_by_eight_and_the_day_shift_with_its_break():
    assert occ_of(two_by_eight(), TUESDAY) == [
        ("Morning", "Tue 05:00", "Tue 13:00"),
        ("Afternoon", "Tue 13:00", "Tue 21:00"),
    ]
    opens, _ = opening(two_by_eight(), at(TUESDAY, "00:00"), at(WEDNESDAY, "00:00"), PARIS)
    assert seconds(opens) == 16 * 3600
    (day,) = occurrences(day_shift(), at(TUESDAY, "00:00"), at(WEDNESDAY, "00:00"), PARIS)
    assert (day.start, day.end) == (at(TUESDAY, "07:30"), at(TUESDAY, "16:00"))
    assert day.opening == ((day.start, day.end),)
    assert day.breaks == ((at(TUESDAY, "12:00"), at(TUESDAY, "12:30")),)
    opens, breaks = opening(day_shift(), at(TUESDAY, "00:00"), at(WEDNESDAY, "00:00"), PARIS)
    assert seconds(opens) == 8.5 * 3600  # the break is open time (outside required only)
    assert breaks == [(at(TUESDAY, "12:00"), at(TUESDAY, "12:30"))]
    # A period cut in the middle of the break keeps the part inside it.
    _, breaks = opening(day_shift(), at(TUESDAY, "12:15"), at(TUESDAY, "14:00"), PARIS)
    assert breaks == [(at(TUESDAY, "12:15"), at(TUESDAY, "12:30"))]
    assert occ_of(day_shift(), SATURDAY) == []


def test_a_night_shift_belongs_to_the_day_it_starts_and_a_break_after_midnight_too():
    spec = CalendarSpec(
        "Nights", (ShiftSpec("Night", time(21), time(5), WEEKDAYS, ((time(1), time(1, 30)),)),)
    )
    (first, second) = occurrences(spec, at(TUESDAY, "00:00"), at(WEDNESDAY, "00:00"), PARIS)
    assert first.day == MONDAY
    assert first.key == "2026-11-23/Night"
    assert (first.start, first.end) == (at(MONDAY, "21:00"), at(TUESDAY, "05:00"))
    assert first.breaks == ((at(TUESDAY, "01:00"), at(TUESDAY, "01:30")),)
    assert second.day == TUESDAY
    assert (second.end - second.start) == timedelta(hours=8)
    assert all(o.start.tzinfo == UTC for o in (first, second))


# -- daylight saving -------------------------------------------------------------------------


def test_the_two_dst_nights_last_seven_and_nine_hours():
    spec = three_by_eight(EVERY_DAY)
    spring = find(spec, "2026-03-28/Night", PARIS)  # Saturday into Sunday 29 March
    autumn = find(spec, "2026-10-24/Night", PARIS)  # Saturday into Sunday 25 October
    assert spring is not None
    assert autumn is not None
    assert spring.end - spring.start == timedelta(hours=7)
    assert autumn.end - autumn.start == timedelta(hours=9)
    assert (spring.start, spring.end) == (
        datetime(2026, 3, 28, 20, tzinfo=UTC),
        datetime(2026, 3, 29, 3, tzinfo=UTC),
    )
    assert (autumn.start, autumn.end) == (
        datetime(2026, 10, 24, 19, tzinfo=UTC),
        datetime(2026, 10, 25, 4, tzinfo=UTC),
    )
    # The whole spring Sunday is 23 h of calendar, all open (every day here); autumn's 25 h.
    sunday = date(2026, 3, 29)
    opens, _ = opening(spec, at(sunday, "00:00"), at(sunday + timedelta(days=1), "00:00"), PARIS)
    assert seconds(opens) == 23 * 3600
    sunday = date(2026, 10, 25)
    opens, _ = opening(spec, at(sunday, "00:00"), at(sunday + timedelta(days=1), "00:00"), PARIS)
    assert seconds(opens) == 25 * 3600


def test_a_shift_starting_in_the_skipped_hour_starts_at_the_jump():
    spec = CalendarSpec("Early", (ShiftSpec("Early", time(2, 30), time(6), EVERY_DAY),))
    occ = find(spec, "2026-03-29/Early", PARIS)
    assert occ is not None
    # 02:30 does not exist that night: the clocks jump from 02:00 CET to 03:00 CEST,
    # i.e. 01:00 UTC; the shift runs to 06:00 CEST = 04:00 UTC: 3 h.
    assert occ.start == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert occ.end == datetime(2026, 3, 29, 4, tzinfo=UTC)
    # The day before, a normal 3 h 30.
    before = find(spec, "2026-03-28/Early", PARIS)
    assert before is not None
    assert before.end - before.start == timedelta(hours=3, minutes=30)


# -- exceptions ------------------------------------------------------------------------------


def test_a_whole_day_closure_removes_that_day_s_opening():
    spec = three_by_eight(exceptions=[ExceptionSpec(WEDNESDAY, True, "Holiday")])
    occs = occurrences(spec, at(TUESDAY, "00:00"), at(FRIDAY, "00:00"), PARIS)
    by_key = {o.key: o for o in occs}
    assert "2026-11-25/Morning" not in by_key
    assert "2026-11-25/Afternoon" not in by_key
    # Tuesday's night stops at midnight; Wednesday's night opens only after midnight.
    tue_night = by_key["2026-11-24/Night"]
    assert tue_night.opening == ((at(TUESDAY, "21:00"), at(WEDNESDAY, "00:00")),)
    wed_night = by_key["2026-11-25/Night"]
    thursday = WEDNESDAY + timedelta(days=1)
    assert wed_night.opening == ((at(thursday, "00:00"), at(thursday, "05:00")),)
    opens, _ = opening(spec, at(WEDNESDAY, "00:00"), at(thursday, "00:00"), PARIS)
    assert opens == []


def test_a_partial_closure_and_one_past_midnight():
    spec = two_by_eight([ExceptionSpec(TUESDAY, True, "Power cut", time(10), time(14))])
    opens, _ = opening(spec, at(TUESDAY, "00:00"), at(WEDNESDAY, "00:00"), PARIS)
    assert opens == [
        (at(TUESDAY, "05:00"), at(TUESDAY, "10:00")),
        (at(TUESDAY, "14:00"), at(TUESDAY, "21:00")),
    ]
    assert seconds(opens) == 12 * 3600
    # 22:00 → 02:00 on a 3×8: Tuesday's night is open 21:00–22:00 and 02:00–05:00.
    spec = three_by_eight(exceptions=[ExceptionSpec(TUESDAY, True, "", time(22), time(2))])
    night = find(spec, "2026-11-24/Night", PARIS)
    assert night is not None
    assert night.opening == (
        (at(TUESDAY, "21:00"), at(TUESDAY, "22:00")),
        (at(WEDNESDAY, "02:00"), at(WEDNESDAY, "05:00")),
    )


def test_an_extra_shift_adds_opening_and_a_closure_wins_over_it():
    extra = ExceptionSpec(SATURDAY, False, "Overtime", time(8), time(12))
    spec = day_shift([extra])
    assert occ_of(spec, SATURDAY) == [("Overtime", "Sat 08:00", "Sat 12:00")]
    occ = find(spec, "2026-11-28/Overtime", PARIS)
    assert occ is not None
    assert occ.breaks == ()
    closed = day_shift([extra, ExceptionSpec(SATURDAY, True, "Shutdown")])
    assert occ_of(closed, SATURDAY) == []


# -- lookups ---------------------------------------------------------------------------------


def test_shift_at_and_previous_shift_across_the_weekend():
    three, two = three_by_eight(), two_by_eight()
    assert present(shift_at(three, at(TUESDAY, "10:00"), PARIS)).key == "2026-11-24/Morning"
    assert present(shift_at(three, at(TUESDAY, "03:00"), PARIS)).key == "2026-11-23/Night"
    assert (
        present(shift_at(three, at(TUESDAY, "13:00"), PARIS)).name == "Afternoon"
    )  # ends exclusive
    assert shift_at(two, at(SATURDAY, "10:00"), PARIS) is None
    # Monday morning: the shift before is Friday's night (3×8) or Friday's afternoon (2×8).
    monday_morning = at(NEXT_MONDAY, "06:00")
    assert present(previous_shift(three, monday_morning, PARIS)).key == "2026-11-27/Night"
    assert present(previous_shift(two, monday_morning, PARIS)).key == "2026-11-27/Afternoon"
    # Before Monday's first shift starts, the same answers.
    assert (
        present(previous_shift(two, at(NEXT_MONDAY, "04:00"), PARIS)).key == "2026-11-27/Afternoon"
    )
    # Mid-shift, the previous one is the one before the running shift, not the running one.
    assert present(previous_shift(three, at(TUESDAY, "10:00"), PARIS)).key == "2026-11-23/Night"
    assert (
        present(previous_shift(ALWAYS_OPEN, at(TUESDAY, "10:00"), PARIS)).key == "2026-11-23/24/7"
    )


def test_same_shift_a_week_before_and_find_by_key():
    spec = three_by_eight(exceptions=[ExceptionSpec(MONDAY, True, "Holiday")])
    tuesday_morning = find(spec, "2026-12-01/Morning", PARIS)
    assert tuesday_morning is not None
    week_before = same_shift_days_before(spec, tuesday_morning, 7, PARIS)
    assert week_before is not None
    assert week_before.key == "2026-11-24/Morning"
    assert week_before.end - week_before.start == timedelta(hours=8)
    # A week before next Monday's morning was the holiday: there is none.
    monday_morning = find(spec, "2026-11-30/Morning", PARIS)
    assert monday_morning is not None
    assert same_shift_days_before(spec, monday_morning, 7, PARIS) is None
    # find() gives back exactly the occurrence of a key, and None for what does not exist.
    for occ in occurrences(spec, at(TUESDAY, "00:00"), at(FRIDAY, "00:00"), PARIS):
        assert find(spec, occ.key, PARIS) == occ
    assert find(spec, "2026-11-28/Morning", PARIS) is None  # Saturday
    assert find(spec, "2026-11-24/Lunch", PARIS) is None
    assert find(spec, "not-a-date/Morning", PARIS) is None


# -- the models ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_workshop_cannot_be_in_two_calendars():
    Calendar.objects.create(name="3×8", workshops=["Building A"])
    other = Calendar(name="Day", workshops=["Building B", "Building A"])
    with pytest.raises(ValidationError) as refused:
        other.full_clean()
    assert "workshops" in refused.value.message_dict
    assert "Building A (3×8)" in refused.value.message_dict["workshops"][0]
    Calendar(name="Day", workshops=["Building B"]).full_clean()
    with pytest.raises(ValidationError):
        Calendar(name="Odd", workshops="Building C").full_clean()


@pytest.mark.django_db
def test_shift_break_and_exception_validation():
    cal = Calendar.objects.create(name="2×8")
    with pytest.raises(ValidationError, match="same time"):
        Shift(calendar=cal, name="Zero", start=time(5), end=time(5)).full_clean()
    Shift(calendar=cal, name="Night", start=time(21), end=time(5)).full_clean()
    shift = Shift.objects.create(calendar=cal, name="Morning", start=time(5), end=time(13))
    with pytest.raises(ValidationError):
        Break(shift=shift, start=time(9), end=time(9)).full_clean()

    def exception(**fields):
        return CalendarException(calendar=cal, date=TUESDAY, **fields)

    exception(kind="closed").full_clean()  # a whole day
    exception(kind="closed", start=time(10), end=time(14)).full_clean()
    exception(kind="extra", start=time(8), end=time(12)).full_clean()
    with pytest.raises(ValidationError, match="both times"):
        exception(kind="closed", start=time(10)).full_clean()
    with pytest.raises(ValidationError, match="extra shift needs"):
        exception(kind="extra").full_clean()
    with pytest.raises(ValidationError, match="cannot be equal"):
        exception(kind="closed", start=time(10), end=time(10)).full_clean()


@pytest.mark.django_db
def test_calendars_load_from_the_database_with_default_and_fallback():
    assert load_calendars() == ({}, ALWAYS_OPEN)
    assert Calendars().for_workshop("Building A") is ALWAYS_OPEN
    assert not ALWAYS_OPEN.configured

    three = Calendar.objects.create(name="3×8", workshops=["Building A"])
    Shift.objects.create(calendar=three, name="Night", start=time(21), end=time(5))
    day = Calendar.objects.create(name="Day", is_default=True)
    shift = Shift.objects.create(
        calendar=day, name="Day", start=time(7, 30), end=time(16), saturday=True
    )
    Break.objects.create(shift=shift, name="Lunch", start=time(12), end=time(12, 30))
    CalendarException.objects.create(calendar=day, date=TUESDAY, kind="closed", name="Holiday")

    calendars = Calendars()
    a = calendars.for_workshop("Building A")
    assert a.name == "3×8"
    assert a.configured
    assert a.shifts == (ShiftSpec("Night", time(21), time(5), WEEKDAYS),)
    other = calendars.for_workshop("Building Z")  # no calendar of its own: the default
    assert other.name == "Day"
    (spec_shift,) = other.shifts
    assert spec_shift.weekdays == frozenset({0, 1, 2, 3, 4, 5})
    assert spec_shift.breaks == ((time(12), time(12, 30)),)
    assert other.exceptions == (ExceptionSpec(TUESDAY, True, "Holiday", None, None),)
    # The loaded spec works end to end: Tuesday is a holiday, Saturday a working day.
    assert occ_of(other, TUESDAY) == []
    assert occ_of(other, SATURDAY) == [("Day", "Sat 07:30", "Sat 16:00")]
