"""Deadline arithmetic over a working-hours calendar: pure, no database, no Flask.

Working time is the real time that falls inside each working day's window, and the window
is set by the wall clock in the calendar's time zone: "09:00" to "17:00" means 09:00 to
17:00 London time, GMT in winter and BST in summer, so it is 8 working hours on every
working day, the clock-change weeks included. Elapsed durations ("72 hours") are real
time, added on UTC.

A clock change can only fall inside a window if a calendar works through the night of a
change-over (in London, 01:00 to 02:00 on the last Sundays of March and October). Then the
window keeps its wall-clock edges and holds the real time between them (00:00 to 03:00 is
2 hours in March and 4 in October). An edge that the clock skips in March is placed at the
moment the clock jumps; an edge the clock shows twice in October is its first showing.

A working deadline is the earliest moment by which that much working time has passed since
the start, so a start outside working hours counts from the next working moment, a deadline
that uses up a day exactly is that day's end (Friday 16:00 + 1 working hour is Friday
17:00, not Monday 09:00), and a zero duration is the start itself. Each call walks the days
it spans once, never minute by minute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mash_hub.config import CalendarSettings, Duration, TimescalesSettings

__all__ = [
    "RAG_RATINGS",
    "WorkingCalendar",
    "deadline_for",
    "response_due",
]

RAG_RATINGS = ("red", "amber", "green")

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK_RE = re.compile(r"^(?P<h>[01]\d|2[0-4]):(?P<m>[0-5]\d)$")
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)


def _parse_clock(text: str, *, end_of_day_allowed: bool) -> timedelta:
    """ "HH:MM" as an offset from midnight; "24:00" (the day's end) only where allowed."""
    match = _CLOCK_RE.match(text.strip())
    if not match:
        raise ValueError(f'expected a time of day like "09:00", got {text!r}')
    offset = timedelta(hours=int(match["h"]), minutes=int(match["m"]))
    if offset > _ONE_DAY or (offset == _ONE_DAY and not end_of_day_allowed):
        raise ValueError(f"not a time of day: {text!r}")
    return offset


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days and hours in one time zone, with bank holidays off.

    Build it with `from_settings`, or directly with `day_starts`/`day_ends` as offsets from
    local midnight (`timedelta(hours=9)`). All results are aware datetimes in UTC.
    """

    zone: ZoneInfo
    working_weekdays: frozenset[int]  # Monday is 0
    day_starts: timedelta
    day_ends: timedelta
    bank_holidays: frozenset[date] = frozenset()
    # Windows already worked out, by local date: the calendar never changes once built.
    _windows: dict[date, tuple[datetime, datetime] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not self.working_weekdays:
            raise ValueError("a working calendar needs at least one working day")
        if not self.working_weekdays <= frozenset(range(7)):
            raise ValueError(f"working weekdays are 0 (Monday) to 6: {self.working_weekdays}")
        if not _ZERO <= self.day_starts < self.day_ends <= _ONE_DAY:
            raise ValueError(
                f"the working day must start before it ends, within one day: "
                f"{self.day_starts} to {self.day_ends}"
            )

    @classmethod
    def from_settings(cls, calendar: CalendarSettings) -> WorkingCalendar:
        """The calendar of `[calendar]` in the config; ValueError names a bad value."""
        try:
            zone = ZoneInfo(calendar.timezone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {calendar.timezone!r}") from err
        weekdays: set[int] = set()
        for name in calendar.working_days:
            key = name.strip().lower()
            if key not in _DAY_NAMES:
                raise ValueError(f"working days are named {', '.join(_DAY_NAMES)}, got {name!r}")
            weekdays.add(_DAY_NAMES.index(key))
        holidays: set[date] = set()
        for text in calendar.bank_holidays:
            try:
                holidays.add(date.fromisoformat(text.strip()))
            except ValueError as err:
                raise ValueError(f"bank holidays are dates like 2026-12-25, got {text!r}") from err
        return cls(
            zone=zone,
            working_weekdays=frozenset(weekdays),
            day_starts=_parse_clock(calendar.day_starts, end_of_day_allowed=False),
            day_ends=_parse_clock(calendar.day_ends, end_of_day_allowed=True),
            bank_holidays=frozenset(holidays),
        )

    # -- the windows -------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.working_weekdays and day not in self.bank_holidays

    def working_window(self, day: date) -> tuple[datetime, datetime] | None:
        """The start and end (UTC) of the working hours on a local date; None on a day off."""
        try:
            return self._windows[day]
        except KeyError:
            pass
        window: tuple[datetime, datetime] | None = None
        if self.is_working_day(day):
            midnight = datetime.combine(day, time())
            window = self._utc(midnight + self.day_starts), self._utc(midnight + self.day_ends)
        self._windows[day] = window
        return window

    def _utc(self, wall: datetime) -> datetime:
        """The moment the calendar's clock shows `wall` (a naive local time), in UTC.

        Shown twice (October): the first time. Never shown (March): the moment the clock
        jumps past it, which is the earliest moment whose reading is later than `wall`.
        """
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:
            return first
        other = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        # The jump lies between the two readings of the gap; find it to the second
        # (zone transitions fall on whole seconds). `before` is always before the jump.
        before, after = min(first, other), max(first, other)
        while after - before > timedelta(seconds=1):
            middle = before + timedelta(seconds=(after - before) // timedelta(seconds=2))
            if middle.astimezone(self.zone).replace(tzinfo=None) < wall:
                before = middle
            else:
                after = middle
        return after

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    # -- queries -----------------------------------------------------------------------

    def is_working_time(self, moment: datetime) -> bool:
        """True inside a working window; a window's start counts, its end does not."""
        moment = _require_aware(moment, "moment")
        window = self.working_window(self._local_date(moment))
        return window is not None and window[0] <= moment < window[1]

    def next_working_moment(self, moment: datetime) -> datetime:
        """`moment` itself if it is working time, else the start of the next window."""
        moment = _require_aware(moment, "moment")
        day = self._local_date(moment)
        while True:
            window = self.working_window(day)
            if window is not None and moment < window[1]:
                return max(window[0], moment)
            day += _ONE_DAY

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """The working time from `start` to `end`; negative when `end` comes first.

        Shows the working time left before a deadline, or (negative) how far it is overdue.
        """
        start = _require_aware(start, "start")
        end = _require_aware(end, "end")
        if end < start:
            return -self.working_time_between(end, start)
        total = _ZERO
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            window = self.working_window(day)
            if window is not None:
                begin, finish = max(window[0], start), min(window[1], end)
                if finish > begin:
                    total += finish - begin
            day += _ONE_DAY
        return total

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The moment `duration` after `start`, in UTC.

        Elapsed durations add real time. Working durations give the earliest moment by
        which that much working time has passed since `start`.
        """
        start = _require_aware(start, "start")
        if duration.seconds < 0:
            raise ValueError(f"a duration cannot be negative: {duration}")
        if not duration.working:
            return start + duration.timedelta
        return self.add_working(start, duration.timedelta)

    def add_working(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest moment by which `amount` of working time has passed since `start`."""
        start = _require_aware(start, "start")
        if amount < _ZERO:
            raise ValueError(f"working time cannot be negative: {amount}")
        if amount == _ZERO:
            return start
        remaining = amount
        day = self._local_date(start)
        while True:
            window = self.working_window(day)
            if window is not None and window[1] > start:
                begin = max(window[0], start)
                available = window[1] - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            day += _ONE_DAY


# -- deadlines -------------------------------------------------------------------------


def _rating(rag: str) -> str:
    key = rag.strip().lower()
    if key not in RAG_RATINGS:
        raise ValueError(f"a RAG rating is one of red, amber or green, got {rag!r}")
    return key


def deadline_for(
    rag: str,
    received_at: datetime,
    timescales: TimescalesSettings,
    calendar: WorkingCalendar,
    red_counts_outside_working_hours: bool,
) -> datetime:
    """When the screening decision on a contact received at `received_at` is due (UTC).

    From `[timescales.decision]`. A Red contact counts outside working hours when the
    calendar says so: "4 working hours" then means 4 real hours from receipt.
    """
    key = _rating(rag)
    duration: Duration = getattr(timescales.decision, key)
    if key == "red" and red_counts_outside_working_hours and duration.working:
        duration = Duration(duration.seconds, working=False, text=duration.text)
    return calendar.add(received_at, duration)


def response_due(
    rag: str,
    requested_at: datetime,
    timescales: TimescalesSettings,
    calendar: WorkingCalendar,
) -> datetime:
    """When a partner agency's answer to an information request is due (UTC).

    From `[timescales.response]`: Red and Amber only; a Green request has no deadline
    and raises ValueError.
    """
    key = _rating(rag)
    if key == "green":
        raise ValueError("a Green information request has no response deadline")
    duration: Duration = getattr(timescales.response, key)
    return calendar.add(requested_at, duration)
