"""Properties of working-hours deadlines, for random starts across 2026-2027.

Two calendars: the shipped one (Mon-Fri 09:00-17:00 London, with bank holidays) and an
awkward one whose windows straddle the 01:00-02:00 clock changes on Sundays, so a window
can be an hour short (March) or an hour long (October) and edges can fall in the skipped
hour. Starts are drawn over the two years and, more densely, around the four clock changes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mash_hub.config import CalendarSettings, Duration, Settings
from mash_hub.deadlines import WorkingCalendar, deadline_for

SHIPPED = WorkingCalendar.from_settings(CalendarSettings())
AWKWARD = WorkingCalendar.from_settings(
    dataclasses.replace(
        CalendarSettings(),
        working_days=("sat", "sun"),
        day_starts="01:30",
        day_ends="02:30",
    )
)
CALENDARS = [pytest.param(SHIPPED, id="shipped"), pytest.param(AWKWARD, id="night-across-dst")]

CLOCK_CHANGES = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2027, 3, 28, 1, tzinfo=UTC),
    datetime(2027, 10, 31, 1, tzinfo=UTC),
]

ANY_TIME = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2027, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)
NEAR_A_CLOCK_CHANGE = st.builds(
    lambda change, seconds: change + timedelta(seconds=seconds),
    st.sampled_from(CLOCK_CHANGES),
    st.integers(min_value=-4 * 86400, max_value=2 * 86400),
)
STARTS = st.one_of(ANY_TIME, NEAR_A_CLOCK_CHANGE)
# Up to 300 working hours, to the second, with whole hours and zero drawn often.
WORKING_SECONDS = st.one_of(
    st.integers(min_value=0, max_value=300 * 3600),
    st.integers(min_value=0, max_value=300).map(lambda hours: hours * 3600),
)


def working(seconds: int) -> Duration:
    return Duration(seconds, working=True)


def at_a_window_end(calendar: WorkingCalendar, moment: datetime) -> bool:
    local_day = moment.astimezone(calendar.zone).date()
    for day in (local_day - timedelta(days=1), local_day):
        window = calendar.working_window(day)
        if window is not None and window[1] == moment:
            return True
    return False


@pytest.mark.parametrize("calendar", CALENDARS)
@settings(max_examples=300, deadline=None)
@given(first=STARTS, second=STARTS, seconds=WORKING_SECONDS)
def test_a_later_start_never_gives_an_earlier_deadline(
    calendar: WorkingCalendar, first: datetime, second: datetime, seconds: int
) -> None:
    early, late = sorted((first, second))
    assert calendar.add(early, working(seconds)) <= calendar.add(late, working(seconds))


@pytest.mark.parametrize("calendar", CALENDARS)
@settings(max_examples=200, deadline=None)
@given(start=STARTS, seconds=WORKING_SECONDS, more=WORKING_SECONDS)
def test_more_working_time_never_gives_an_earlier_deadline(
    calendar: WorkingCalendar, start: datetime, seconds: int, more: int
) -> None:
    assert calendar.add(start, working(seconds)) <= calendar.add(start, working(seconds + more))


@pytest.mark.parametrize("calendar", CALENDARS)
@settings(max_examples=300, deadline=None)
@given(start=STARTS, seconds=WORKING_SECONDS)
def test_the_working_time_from_start_to_deadline_is_the_duration(
    calendar: WorkingCalendar, start: datetime, seconds: int
) -> None:
    due = calendar.add(start, working(seconds))
    assert due >= start
    assert calendar.working_time_between(start, due) == timedelta(seconds=seconds)
    assert calendar.working_time_between(due, start) == -timedelta(seconds=seconds)


@pytest.mark.parametrize("calendar", CALENDARS)
@settings(max_examples=300, deadline=None)
@given(start=STARTS, seconds=WORKING_SECONDS.filter(lambda s: s > 0))
def test_the_deadline_is_the_earliest_moment_in_working_time(
    calendar: WorkingCalendar, start: datetime, seconds: int
) -> None:
    due = calendar.add(start, working(seconds))
    assert due > start
    assert calendar.is_working_time(due) or at_a_window_end(calendar, due)
    # Any earlier moment would not yet have had enough working time.
    just_before = due - timedelta(microseconds=1)
    assert calendar.working_time_between(start, just_before) < timedelta(seconds=seconds)


@pytest.mark.parametrize("calendar", CALENDARS)
@settings(max_examples=300, deadline=None)
@given(start=STARTS, a=WORKING_SECONDS, b=WORKING_SECONDS)
def test_adding_a_then_b_is_adding_a_plus_b(
    calendar: WorkingCalendar, start: datetime, a: int, b: int
) -> None:
    in_one = calendar.add(start, working(a + b))
    in_two = calendar.add(calendar.add(start, working(a)), working(b))
    assert in_one == in_two


@settings(max_examples=200, deadline=None)
@given(start=STARTS, hours=st.integers(min_value=0, max_value=24 * 400))
def test_elapsed_hours_are_real_hours(start: datetime, hours: int) -> None:
    duration = Duration(hours * 3600, working=False)
    assert SHIPPED.add(start, duration) - start == timedelta(hours=hours)


@settings(max_examples=200, deadline=None)
@given(start=STARTS, rag=st.sampled_from(["red", "amber", "green"]), red_counts=st.booleans())
def test_decision_deadlines_keep_red_first_and_never_precede_receipt(
    start: datetime, rag: str, red_counts: bool
) -> None:
    timescales = Settings().timescales
    due = deadline_for(rag, start, timescales, SHIPPED, red_counts)
    assert due > start
    red = deadline_for("red", start, timescales, SHIPPED, red_counts)
    amber = deadline_for("amber", start, timescales, SHIPPED, red_counts)
    assert red <= amber
    if red_counts:
        assert red == start + timedelta(hours=4)
