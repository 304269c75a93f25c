"""Business-time arithmetic with controlled instants: weekends, holidays, DST, long spans."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.business_time import (
    WEEKDAYS,
    Calendar,
    CalendarError,
    add_business_seconds,
    add_business_time,
    business_seconds_between,
    business_time_between,
    is_working_time,
    working_spans,
)

H = 3600
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
SHANGHAI = "Asia/Shanghai"


def office(zone: str, *intervals: tuple[str, str], days: int = 5, **kw: object) -> Calendar:
    """Monday..(days) with the given intervals (default 09:00-17:00)."""
    spec = list(intervals) or [("09:00", "17:00")]
    weekly = {name: spec for name in WEEKDAYS[:days]}
    return Calendar.from_spec(timezone=zone, weekly_hours=weekly, **kw)  # type: ignore[arg-type]


def local(zone: str, *args: int, fold: int = 0) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)  # type: ignore[misc]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]


# --- weekends, hours, holidays ----------------------------------------------------------


def test_friday_afternoon_plus_two_hours_is_monday_morning() -> None:
    cal = office(SHANGHAI)
    friday = local(SHANGHAI, 2026, 12, 4, 16)  # a Friday
    due = add_business_seconds(cal, friday, 2 * H)
    assert due == local(SHANGHAI, 2026, 12, 7, 10)
    assert due.tzinfo is dt.UTC
    assert business_seconds_between(cal, friday, due) == 2 * H


def test_start_on_the_weekend_or_before_opening_waits_for_the_next_window() -> None:
    cal = office(SHANGHAI)
    saturday = local(SHANGHAI, 2026, 12, 5, 11)
    assert add_business_seconds(cal, saturday, H) == local(SHANGHAI, 2026, 12, 7, 10)
    early = local(SHANGHAI, 2026, 12, 7, 7)
    assert add_business_seconds(cal, early, 30 * 60) == local(SHANGHAI, 2026, 12, 7, 9, 30)
    late = local(SHANGHAI, 2026, 12, 7, 20)
    assert add_business_seconds(cal, late, 60) == local(SHANGHAI, 2026, 12, 8, 9, 1)
    assert business_seconds_between(cal, saturday, local(SHANGHAI, 2026, 12, 6, 23)) == 0


def test_amount_running_out_at_closing_time_ends_at_closing_time() -> None:
    cal = office(SHANGHAI)
    start = local(SHANGHAI, 2026, 12, 7, 16)
    assert add_business_seconds(cal, start, H) == local(SHANGHAI, 2026, 12, 7, 17)
    assert add_business_seconds(cal, start, H + 1) == local(SHANGHAI, 2026, 12, 8, 9, 0, 1)
    assert add_business_seconds(cal, start, 0) == start


def test_holidays_are_skipped_as_whole_local_days() -> None:
    # Monday 2026-12-07 is a holiday: Friday 16:00 + 2h is Tuesday 10:00.
    cal = office(SHANGHAI, holidays=["2026-12-07"])
    friday = local(SHANGHAI, 2026, 12, 4, 16)
    assert add_business_seconds(cal, friday, 2 * H) == local(SHANGHAI, 2026, 12, 8, 10)
    week = business_seconds_between(
        cal, local(SHANGHAI, 2026, 12, 7), local(SHANGHAI, 2026, 12, 14)
    )
    assert week == 4 * 8 * H
    assert not is_working_time(cal, local(SHANGHAI, 2026, 12, 7, 10))
    assert is_working_time(cal, local(SHANGHAI, 2026, 12, 8, 10))


def test_several_intervals_a_day() -> None:
    cal = office(SHANGHAI, ("08:00", "12:00"), ("13:00", "17:30"))
    start = local(SHANGHAI, 2026, 12, 7, 11, 30)
    assert add_business_seconds(cal, start, H) == local(SHANGHAI, 2026, 12, 7, 13, 30)
    lunch = local(SHANGHAI, 2026, 12, 7, 12, 15)
    assert add_business_seconds(cal, lunch, 60) == local(SHANGHAI, 2026, 12, 7, 13, 1)
    day = business_seconds_between(cal, local(SHANGHAI, 2026, 12, 7), local(SHANGHAI, 2026, 12, 8))
    assert day == 8 * H + 30 * 60
    assert cal.weekly_seconds() == 5 * (8 * H + 30 * 60)


def test_intervals_are_given_in_any_order_and_end_at_midnight() -> None:
    cal = Calendar.from_spec(
        timezone=SHANGHAI, weekly_hours={"sat": [("20:00", "24:00"), ("06:00", "07:00")]}
    )
    saturday = local(SHANGHAI, 2026, 12, 5)
    assert business_seconds_between(cal, saturday, saturday + dt.timedelta(days=1)) == 5 * H
    assert working_spans(cal, saturday.date()) == [
        (local(SHANGHAI, 2026, 12, 5, 6), local(SHANGHAI, 2026, 12, 5, 7)),
        (local(SHANGHAI, 2026, 12, 5, 20), local(SHANGHAI, 2026, 12, 6, 0)),
    ]


def test_instants_in_other_offsets_are_the_same_instants() -> None:
    cal = office(SHANGHAI)
    in_utc = utc(2026, 12, 7, 1)  # 09:00 in Shanghai
    in_berlin = in_utc.astimezone(ZoneInfo(BERLIN))
    assert add_business_seconds(cal, in_berlin, H) == utc(2026, 12, 7, 2)


# --- daylight saving time ---------------------------------------------------------------


def test_berlin_spring_forward_window_counts_real_hours() -> None:
    # 2026-03-29 (Sunday): 02:00 CET jumps to 03:00 CEST. 01:00-05:00 is 3 real hours.
    cal = Calendar.from_spec(timezone=BERLIN, weekly_hours={"sun": [("01:00", "05:00")]})
    day = dt.date(2026, 3, 29)
    assert working_spans(cal, day) == [(utc(2026, 3, 29, 0), utc(2026, 3, 29, 3))]
    start = local(BERLIN, 2026, 3, 29, 1)
    assert add_business_seconds(cal, start, 2 * H) == local(BERLIN, 2026, 3, 29, 4)
    assert add_business_seconds(cal, start, 3 * H) == utc(2026, 3, 29, 3)
    # The fourth hour comes a week later.
    assert add_business_seconds(cal, start, 4 * H) == local(BERLIN, 2026, 4, 5, 2)


def test_berlin_fall_back_window_counts_real_hours() -> None:
    # 2026-10-25 (Sunday): 03:00 CEST falls back to 02:00 CET. 01:00-05:00 is 5 real hours.
    cal = Calendar.from_spec(timezone=BERLIN, weekly_hours={"sun": [("01:00", "05:00")]})
    assert working_spans(cal, dt.date(2026, 10, 25)) == [
        (utc(2026, 10, 24, 23), utc(2026, 10, 25, 4))
    ]
    start = local(BERLIN, 2026, 10, 25, 1)
    # 2h30 after 01:00 CEST is 02:30 CET, the second 02:30 of the night.
    # (Compared in UTC: Python never finds an ambiguous local time equal across zones.)
    second = local(BERLIN, 2026, 10, 25, 2, 30, fold=1).astimezone(dt.UTC)
    assert add_business_seconds(cal, start, 2 * H + 1800) == second == utc(2026, 10, 25, 1, 30)
    assert business_seconds_between(cal, start, local(BERLIN, 2026, 10, 26)) == 5 * H


def test_shifted_gap_times_never_count_twice() -> None:
    # Wall 02:30 does not exist on the spring-forward night; fold=0 puts it at 03:30 CEST,
    # after 03:00. The day's windows are clamped so every real second counts once.
    cal = Calendar.from_spec(
        timezone=BERLIN,
        weekly_hours={"sun": [("01:00", "02:30"), ("02:30", "03:00"), ("03:00", "05:00")]},
    )
    day = dt.date(2026, 3, 29)
    spans = working_spans(cal, day)
    assert spans == [
        (utc(2026, 3, 29, 0), utc(2026, 3, 29, 1, 30)),
        (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 3)),
    ]
    whole = business_seconds_between(cal, utc(2026, 3, 28), utc(2026, 3, 30))
    assert whole == 3 * H
    # A window entirely inside the gap is shifted forward by the gap (fold=0 rule).
    inside = Calendar.from_spec(timezone=BERLIN, weekly_hours={"sun": [("02:15", "02:45")]})
    assert working_spans(inside, day) == [(utc(2026, 3, 29, 1, 15), utc(2026, 3, 29, 1, 45))]


def test_new_york_office_week_across_spring_forward() -> None:
    # 2026-03-08 (Sunday) 02:00 EST -> 03:00 EDT. Friday 17:00 EST + 2h = Monday 09:00 EDT.
    cal = office(NEW_YORK, ("08:00", "18:00"))
    friday = local(NEW_YORK, 2026, 3, 6, 17)
    assert friday == utc(2026, 3, 6, 22)
    monday = add_business_seconds(cal, friday, 2 * H)
    assert monday == local(NEW_YORK, 2026, 3, 9, 9) == utc(2026, 3, 9, 13)
    # A working week is 50 hours on either side of the change, though the real week is 167h.
    start, end = local(NEW_YORK, 2026, 3, 6, 8), local(NEW_YORK, 2026, 3, 13, 8)
    assert end.astimezone(dt.UTC) - start.astimezone(dt.UTC) == dt.timedelta(hours=167)
    assert business_seconds_between(cal, start, end) == 50 * H


def test_new_york_fall_back_window_and_ambiguous_start() -> None:
    # 2026-11-01 (Sunday) 02:00 EDT -> 01:00 EST: 01:00-03:00 wall is 3 real hours.
    cal = Calendar.from_spec(timezone=NEW_YORK, weekly_hours={"sun": [("01:00", "03:00")]})
    assert working_spans(cal, dt.date(2026, 11, 1)) == [(utc(2026, 11, 1, 5), utc(2026, 11, 1, 8))]
    # A window starting at the ambiguous 01:30 starts at its first occurrence (EDT).
    late = Calendar.from_spec(timezone=NEW_YORK, weekly_hours={"sun": [("01:30", "04:00")]})
    assert working_spans(late, dt.date(2026, 11, 1)) == [
        (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 9))
    ]


def test_twenty_four_seven_is_plain_elapsed_time_across_dst() -> None:
    cal = Calendar.twenty_four_seven(BERLIN)
    start = local(BERLIN, 2026, 3, 28, 12).astimezone(dt.UTC)
    assert add_business_seconds(cal, start, 24 * H) == local(BERLIN, 2026, 3, 29, 13)
    assert business_seconds_between(cal, start, local(BERLIN, 2026, 3, 29, 12)) == 23 * H
    # The flag wins over hours and holidays.
    flagged = Calendar.from_spec(
        timezone=BERLIN, weekly_hours={}, holidays=["2026-03-29"], is_24x7=True
    )
    assert business_seconds_between(flagged, start, start + dt.timedelta(days=2)) == 48 * H


def test_midnight_transition_zone() -> None:
    # Chile moves its clocks at midnight: 2026-09-06 00:00 does not exist (-> 01:00).
    zone = "America/Santiago"
    cal = Calendar.from_spec(
        timezone=zone, weekly_hours={name: [("00:00", "24:00")] for name in WEEKDAYS}
    )
    start, end = utc(2026, 9, 1), utc(2026, 9, 10)
    assert business_time_between(cal, start, end) == end - start
    assert add_business_time(cal, start, end - start) == end


# --- long spans ------------------------------------------------------------------------


def test_thirty_business_days_are_fast_and_exact() -> None:
    cal = office(BERLIN, ("08:00", "12:00"), ("13:00", "17:00"), holidays=["2026-12-25"])
    start = local(BERLIN, 2026, 12, 1, 8)
    began = time.perf_counter()
    for _ in range(20):
        due = add_business_seconds(cal, start, 30 * 8 * H)
    elapsed = (time.perf_counter() - began) / 20
    assert elapsed < 0.02, elapsed
    # 30 working days from Tue 1 Dec: December has 23 weekdays, minus the 25th = 22;
    # eight more in January (the 1st is a Friday) end on Tuesday 12 January at 17:00.
    assert due == local(BERLIN, 2027, 1, 12, 17)
    assert business_seconds_between(cal, start, due) == 30 * 8 * H


def test_years_of_business_time_stay_fast() -> None:
    cal = office(NEW_YORK)
    start = local(NEW_YORK, 2026, 1, 5, 9)
    began = time.perf_counter()
    due = add_business_seconds(cal, start, 5 * 52 * 5 * 8 * H)  # five years of weeks
    assert time.perf_counter() - began < 0.5
    assert business_seconds_between(cal, start, due) == 5 * 52 * 5 * 8 * H


# --- bad calendars --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"timezone": "Mars/Olympus"}, "invalid_timezone"),
        ({"timezone": "../../etc/passwd"}, "invalid_timezone"),
        ({"timezone": ""}, "invalid_timezone"),
        ({"weekly_hours": {}}, "calendar_no_working_hours"),
        ({"weekly_hours": {"mon": []}}, "calendar_no_working_hours"),
        ({"weekly_hours": {"mon": [("10:00", "09:00")]}}, "invalid_working_hours"),
        ({"weekly_hours": {"mon": [("10:00", "10:00")]}}, "invalid_working_hours"),
        ({"weekly_hours": {"mon": [("24:00", "24:00")]}}, "invalid_working_hours"),
        ({"weekly_hours": {"mon": [("08:00", "25:00")]}}, "invalid_working_hours"),
        ({"weekly_hours": {"mon": [("8:00", "12:00")]}}, "invalid_working_hours"),
        (
            {"weekly_hours": {"mon": [("08:00", "12:00"), ("11:00", "13:00")]}},
            "invalid_working_hours",
        ),
        ({"weekly_hours": {"monday": [("08:00", "12:00")]}}, "invalid_working_hours"),
        ({"holidays": ["2026-02-30"]}, "invalid_holidays"),
    ],
)
def test_bad_calendars_are_refused_with_a_code(kwargs: dict[str, object], code: str) -> None:
    spec: dict[str, object] = {"timezone": BERLIN, "weekly_hours": {"mon": [("08:00", "12:00")]}}
    spec.update(kwargs)
    with pytest.raises(CalendarError) as caught:
        Calendar.from_spec(**spec)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_naive_instants_are_refused() -> None:
    cal = office(BERLIN)
    with pytest.raises(ValueError):
        add_business_seconds(cal, dt.datetime(2026, 1, 1), 10)
    with pytest.raises(ValueError):
        add_business_seconds(cal, utc(2026, 1, 1), -1)


# --- properties -----------------------------------------------------------------------

ZONES = [
    "UTC",
    BERLIN,
    NEW_YORK,
    SHANGHAI,
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kathmandu",  # +05:45
    "America/Santiago",  # changes at midnight
]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    zone = draw(st.sampled_from(ZONES))
    if draw(st.integers(0, 9)) == 0:
        return Calendar.twenty_four_seven(zone)
    weekly: dict[str, list[tuple[str, str]]] = {}
    for name in WEEKDAYS:
        cuts = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))  # quarter hours
        pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
        weekly[name] = [
            (f"{a // 4:02d}:{a % 4 * 15:02d}", f"{b // 4:02d}:{b % 4 * 15:02d}")
            for a, b in pairs
            if a < 96
        ]
    if not any(weekly.values()):
        weekly["wed"] = [("09:00", "17:00")]
    holidays = draw(st.sets(st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)), max_size=20))
    return Calendar.from_spec(timezone=zone, weekly_hours=weekly, holidays=holidays)


instants = st.integers(0, 2 * 366 * 86_400).map(lambda s: utc(2026, 1, 1) + dt.timedelta(seconds=s))
amounts = st.integers(0, 60 * 86_400)


@settings(max_examples=150, deadline=None)
@given(calendars(), instants, amounts)
def test_between_inverts_add(cal: Calendar, start: dt.datetime, seconds: int) -> None:
    due = add_business_seconds(cal, start, seconds)
    assert due >= start
    assert business_seconds_between(cal, start, due) == seconds
    if seconds:
        assert business_seconds_between(cal, start, due - dt.timedelta(seconds=1)) == seconds - 1


@settings(max_examples=100, deadline=None)
@given(calendars(), instants, amounts, amounts)
def test_add_is_monotonic_and_composes(cal: Calendar, start: dt.datetime, a: int, b: int) -> None:
    first = add_business_seconds(cal, start, min(a, b))
    second = add_business_seconds(cal, start, max(a, b))
    assert first <= second
    assert add_business_seconds(cal, first, max(a, b) - min(a, b)) == second


@settings(max_examples=100, deadline=None)
@given(calendars(), instants, st.integers(0, 30 * 86_400), st.integers(0, 30 * 86_400))
def test_between_is_additive_and_bounded(cal: Calendar, a: dt.datetime, x: int, y: int) -> None:
    b = a + dt.timedelta(seconds=x)
    c = b + dt.timedelta(seconds=y)
    ab, bc, ac = (business_time_between(cal, p, q) for p, q in ((a, b), (b, c), (a, c)))
    assert ac == ab + bc
    assert dt.timedelta(0) <= ab <= b - a
    assert business_time_between(cal, c, a) == dt.timedelta(0)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(ZONES), instants, st.integers(0, 20 * 86_400))
def test_all_day_every_day_is_real_time(zone: str, start: dt.datetime, seconds: int) -> None:
    cal = Calendar.from_spec(
        timezone=zone, weekly_hours={name: [("00:00", "24:00")] for name in WEEKDAYS}
    )
    end = start + dt.timedelta(seconds=seconds)
    assert business_time_between(cal, start, end) == end - start
    assert add_business_seconds(cal, start, seconds) == end
