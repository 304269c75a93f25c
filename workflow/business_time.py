"""Business time: working seconds between two instants, and the instant N working seconds
after another, exact across weekends, holidays and daylight-saving changes.

Pure Python (zoneinfo only), shared by the SLA clocks and anything else that needs
"within business hours" arithmetic.

A ``Calendar`` is an IANA time zone, weekly working intervals per weekday as local
wall-clock ``[start, end)`` times (several per day allowed, none crossing midnight; an end
of 24:00 means the next local midnight), whole local days that are holidays, or the 24x7
flag (every second counts; weekly hours and holidays are then ignored).

Rules, so the results are exact and reproducible:

* Instants are aware datetimes; results are UTC. Arithmetic is ``timedelta`` arithmetic,
  exact to the microsecond; callers that keep whole seconds get whole seconds back.
* Each local day's intervals are turned into UTC instants with zoneinfo's ``fold=0``
  rule: a wall time that does not exist (spring forward) is read with the offset before
  the change, i.e. it lands as far after the jump as it was after its start (Berlin
  02:30 on the spring-forward night is 03:30 CEST); an ambiguous wall time (fall back) is
  its first occurrence.
* What counts is REAL elapsed time inside a working window: a 01:00-05:00 window on a
  spring-forward night is 3 hours, on a fall-back night 5 hours. An 08:00-18:00 day
  whose window does not contain the change is 10 hours, as always.
* Because a shifted wall time may land after a later (existing) one, the UTC intervals
  are clamped to be increasing and disjoint: an interval starts no earlier than the
  previous one ended, and an interval left empty is dropped. So no second is counted
  twice and ``between(a, add(a, n)) == n`` holds exactly.
* Holidays remove whole local days (their own intervals only).
* ``between(a, b)`` is 0 when ``b <= a``; ``add(a, 0)`` is ``a`` itself, otherwise the
  result lies inside or at the end of a working interval (never at the start of the next
  one when the amount runs out exactly at an interval's end).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_SECONDS = 86_400
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZERO = dt.timedelta(0)
ONE_DAY = dt.timedelta(days=1)
# A calendar whose working time is used up only centuries later is a bug, not a deadline.
MAX_DAYS = 366 * 200
_CLOCK = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")

Interval = tuple[int, int]  # seconds after local midnight, [start, end)
Span = tuple[dt.datetime, dt.datetime]  # UTC instants, [start, end)


class CalendarError(ValueError):
    """A calendar that cannot be used, with a stable code for the API."""

    def __init__(self, code: str, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field_name = field_name


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; CalendarError ``invalid_timezone`` when unknown."""
    if not isinstance(name, str) or not name or len(name) > 64 or "\x00" in name:
        raise CalendarError("invalid_timezone", "Not an IANA time zone.", field_name="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise CalendarError(
            "invalid_timezone", f"Unknown IANA time zone {name!r}.", field_name="timezone"
        ) from exc


def parse_clock(text: str, *, allow_midnight_end: bool) -> int:
    """'HH:MM' (00:00-23:59, or 24:00 as an end) as seconds after local midnight."""
    match = _CLOCK.match(text) if isinstance(text, str) else None
    if match is None or (match.group(3) and not allow_midnight_end):
        allowed = "00:00-24:00" if allow_midnight_end else "00:00-23:59"
        raise CalendarError(
            "invalid_working_hours",
            f"{text!r} is not a time of day 'HH:MM' ({allowed}).",
            field_name="weekly_hours",
        )
    if match.group(3):
        return DAY_SECONDS
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60


def format_clock(seconds: int) -> str:
    """Seconds after local midnight as 'HH:MM' (24:00 for the end of the day)."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}"


def _check_day(name: str, intervals: Sequence[Interval]) -> tuple[Interval, ...]:
    ordered = sorted(intervals)
    for start, end in ordered:
        if not 0 <= start < end <= DAY_SECONDS:
            raise CalendarError(
                "invalid_working_hours",
                f"{name}: {format_clock(start)}-{format_clock(end)} must end after it starts, "
                "within the day.",
                field_name="weekly_hours",
            )
    for (_, first_end), (second_start, _) in zip(ordered, ordered[1:], strict=False):
        if second_start < first_end:
            raise CalendarError(
                "invalid_working_hours",
                f"{name}: working intervals overlap.",
                field_name="weekly_hours",
            )
    return tuple(ordered)


@dataclass(frozen=True)
class Calendar:
    """Working hours in one time zone: weekly intervals (Monday first), holidays, or 24x7."""

    timezone: str = "UTC"
    weekly: tuple[tuple[Interval, ...], ...] = ((), (), (), (), (), (), ())
    holidays: frozenset[dt.date] = frozenset()
    always_open: bool = False
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", load_zone(self.timezone))
        if len(self.weekly) != 7:
            raise CalendarError(
                "invalid_working_hours", "Need one entry per weekday.", field_name="weekly_hours"
            )
        checked = tuple(
            _check_day(name, day) for name, day in zip(WEEKDAYS, self.weekly, strict=True)
        )
        object.__setattr__(self, "weekly", checked)
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        if not self.always_open and not any(checked):
            raise CalendarError(
                "calendar_no_working_hours",
                "The calendar has no working hours: add intervals or make it 24x7.",
                field_name="weekly_hours",
            )

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's zoneinfo object."""
        return self._zone

    @classmethod
    def twenty_four_seven(cls, timezone: str = "UTC") -> Calendar:
        """Every second is working time."""
        return cls(timezone=timezone, always_open=True)

    @classmethod
    def from_spec(
        cls,
        *,
        timezone: str,
        weekly_hours: Mapping[str, Iterable[tuple[str, str]]],
        holidays: Iterable[dt.date | str] = (),
        is_24x7: bool = False,
    ) -> Calendar:
        """Build from API-style data: {"mon": [("08:00", "12:00"), ...]}, ISO dates."""
        unknown = sorted(set(weekly_hours) - set(WEEKDAYS))
        if unknown:
            raise CalendarError(
                "invalid_working_hours",
                f"Unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAYS)}.",
                field_name="weekly_hours",
            )
        weekly = tuple(
            tuple(
                (
                    parse_clock(start, allow_midnight_end=False),
                    parse_clock(end, allow_midnight_end=True),
                )
                for start, end in weekly_hours.get(name, ())
            )
            for name in WEEKDAYS
        )
        days: set[dt.date] = set()
        for value in holidays:
            day = value
            if isinstance(value, str):
                try:
                    day = dt.date.fromisoformat(value)
                except ValueError as exc:
                    raise CalendarError(
                        "invalid_holidays", f"{value!r} is not a date.", field_name="holidays"
                    ) from exc
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                raise CalendarError("invalid_holidays", "Not a date.", field_name="holidays")
            days.add(day)
        return cls(timezone=timezone, weekly=weekly, holidays=frozenset(days), always_open=is_24x7)

    def weekly_seconds(self) -> int:
        """Nominal working seconds of a week without holidays or DST changes."""
        if self.always_open:
            return 7 * DAY_SECONDS
        return sum(end - start for day in self.weekly for start, end in day)


def _aware_utc(instant: dt.datetime, name: str) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return instant.astimezone(dt.UTC)


def _wall_to_utc(zone: ZoneInfo, day: dt.date, seconds: int) -> dt.datetime:
    """``seconds`` after local midnight of ``day`` (86400: the next midnight), fold=0."""
    if seconds >= DAY_SECONDS:
        day, seconds = day + ONE_DAY, seconds - DAY_SECONDS
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    local = dt.datetime(day.year, day.month, day.day, hours, minutes, secs, tzinfo=zone)
    return local.astimezone(dt.UTC)


def _raw_spans(calendar: Calendar, day: dt.date) -> list[Span]:
    if day in calendar.holidays:
        return []
    zone = calendar.zone
    return [
        (_wall_to_utc(zone, day, start), _wall_to_utc(zone, day, end))
        for start, end in calendar.weekly[day.weekday()]
    ]


def _day_spans_from(calendar: Calendar, first_day: dt.date) -> Iterator[tuple[dt.date, Span]]:
    """(local day, UTC span) from ``first_day`` on, increasing and disjoint (clamped)."""
    previous_end: dt.datetime | None = None
    day = first_day
    for _ in range(MAX_DAYS):
        for start, end in _raw_spans(calendar, day):
            if previous_end is not None and start < previous_end:
                start = previous_end
            if end <= start:
                continue
            yield day, (start, end)
            previous_end = end
        try:
            day += ONE_DAY
        except OverflowError:
            break
    raise CalendarError("calendar_exhausted", "The calendar has no working time left in range.")


def _spans_from(calendar: Calendar, first_day: dt.date) -> Iterator[Span]:
    for _, span in _day_spans_from(calendar, first_day):
        yield span


def _first_day(calendar: Calendar, instant: dt.datetime) -> dt.date:
    # One day early: the previous day's spans take part in the clamping.
    local_day = instant.astimezone(calendar.zone).date()
    return local_day - ONE_DAY if local_day > dt.date.min else local_day


def working_spans(calendar: Calendar, day: dt.date) -> list[Span]:
    """The UTC working spans of one local day, as the arithmetic uses them."""
    zone = calendar.zone
    if calendar.always_open:
        return [(_wall_to_utc(zone, day, 0), _wall_to_utc(zone, day, DAY_SECONDS))]
    spans = []
    for span_day, span in _day_spans_from(calendar, day - ONE_DAY):
        if span_day > day:
            break
        if span_day == day:
            spans.append(span)
    return spans


def business_time_between(calendar: Calendar, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """Working time in ``[start, end)``; zero when ``end <= start``."""
    start, end = _aware_utc(start, "start"), _aware_utc(end, "end")
    if end <= start:
        return ZERO
    if calendar.always_open:
        return end - start
    total = ZERO
    for span_start, span_end in _spans_from(calendar, _first_day(calendar, start)):
        if span_start >= end:
            break
        low, high = max(span_start, start), min(span_end, end)
        if high > low:
            total += high - low
    return total


def add_business_time(calendar: Calendar, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
    """The UTC instant at which ``amount`` of working time after ``start`` is used up."""
    start = _aware_utc(start, "start")
    if amount < ZERO:
        raise ValueError("amount must not be negative")
    if amount == ZERO:
        return start
    if calendar.always_open:
        return start + amount
    remaining = amount
    for span_start, span_end in _spans_from(calendar, _first_day(calendar, start)):
        if span_end <= start:
            continue
        low = max(span_start, start)
        available = span_end - low
        if remaining <= available:
            return low + remaining
        remaining -= available
    raise AssertionError("unreachable: _spans_from raises when exhausted")  # pragma: no cover


def business_seconds_between(calendar: Calendar, start: dt.datetime, end: dt.datetime) -> int:
    """Whole working seconds in ``[start, end)`` (rounded down)."""
    return business_time_between(calendar, start, end) // dt.timedelta(seconds=1)


def add_business_seconds(calendar: Calendar, start: dt.datetime, seconds: int) -> dt.datetime:
    """The UTC instant at which ``seconds`` working seconds after ``start`` are used up."""
    return add_business_time(calendar, start, dt.timedelta(seconds=seconds))


def is_working_time(calendar: Calendar, instant: dt.datetime) -> bool:
    """Whether ``instant`` lies inside a working span."""
    instant = _aware_utc(instant, "instant")
    if calendar.always_open:
        return True
    for span_start, span_end in _spans_from(calendar, _first_day(calendar, instant)):
        if span_start > instant:
            return False
        if instant < span_end:
            return True
    return False  # pragma: no cover
