"""Deadline arithmetic on the working-hours calendar (issue 4, item 5 and "Must show").

Times are written in London wall-clock time; 2026 clocks go forward on Sunday 29 March
and back on Sunday 25 October.
"""

from __future__ import annotations

import dataclasses
import time as timer
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mash_hub.config import CalendarSettings, Duration, Settings, load_settings
from mash_hub.deadlines import WorkingCalendar, deadline_for, response_due

LONDON = ZoneInfo("Europe/London")
SETTINGS = Settings()
TIMESCALES = SETTINGS.timescales


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def working(hours: int) -> Duration:
    return Duration.parse(f"{hours} working hours")


def elapsed(text: str) -> Duration:
    return Duration.parse(text)


def calendar_with(**changes: object) -> WorkingCalendar:
    return WorkingCalendar.from_settings(dataclasses.replace(CalendarSettings(), **changes))


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar.from_settings(SETTINGS.calendar)


# -- working hours -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("friday", "monday"),
    [
        pytest.param(london(2026, 6, 12, 16), london(2026, 6, 15, 12), id="summer-BST"),
        pytest.param(london(2026, 11, 27, 16), london(2026, 11, 30, 12), id="winter-GMT"),
    ],
)
def test_friday_1600_plus_4_working_hours_is_1_hour_friday_and_3_hours_monday(
    cal: WorkingCalendar, friday: datetime, monday: datetime
) -> None:
    # Issue 4 writes "Monday 11:00" for a 09:00-17:00 day, but Friday 16:00-17:00 is one
    # working hour, so the remaining three end at Monday 12:00; see the next test.
    due = cal.add(friday, working(4))
    assert due == monday
    assert due.tzinfo is UTC


def test_friday_1600_plus_4_working_hours_is_monday_1100_on_a_0900_to_1800_day() -> None:
    longer_day = calendar_with(day_ends="18:00")
    assert longer_day.add(london(2026, 6, 12, 16), working(4)) == london(2026, 6, 15, 11)


def test_friday_1600_plus_3_working_hours_is_monday_1100(cal: WorkingCalendar) -> None:
    assert cal.add(london(2026, 6, 12, 16), working(3)) == london(2026, 6, 15, 11)


def test_24_working_hours_from_monday_1000_is_thursday_1000(cal: WorkingCalendar) -> None:
    assert cal.add(london(2026, 6, 15, 10), working(24)) == london(2026, 6, 18, 10)


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(london(2026, 6, 13, 0), id="saturday-midnight"),
        pytest.param(london(2026, 6, 13, 14, 30), id="saturday-afternoon"),
        pytest.param(london(2026, 6, 14, 23, 59), id="sunday-night"),
        pytest.param(london(2026, 6, 12, 17), id="friday-1700"),
        pytest.param(london(2026, 6, 12, 21), id="friday-evening"),
        pytest.param(london(2026, 6, 15, 6), id="monday-early"),
    ],
)
def test_a_start_outside_working_hours_counts_from_monday_0900(
    cal: WorkingCalendar, start: datetime
) -> None:
    assert cal.add(start, working(4)) == london(2026, 6, 15, 13)
    assert cal.next_working_moment(start) == london(2026, 6, 15, 9)


def test_starting_exactly_at_0900_counts_the_whole_day(cal: WorkingCalendar) -> None:
    assert cal.add(london(2026, 6, 15, 9), working(1)) == london(2026, 6, 15, 10)
    # Eight hours from 09:00 end at 17:00 that day, not at 09:00 the next morning.
    assert cal.add(london(2026, 6, 15, 9), working(8)) == london(2026, 6, 15, 17)
    assert cal.add(london(2026, 6, 15, 9), working(9)) == london(2026, 6, 16, 10)


def test_starting_exactly_at_1700_counts_from_the_next_morning(cal: WorkingCalendar) -> None:
    assert cal.add(london(2026, 6, 15, 17), working(1)) == london(2026, 6, 16, 10)
    assert cal.add(london(2026, 6, 12, 17), working(8)) == london(2026, 6, 15, 17)


def test_a_deadline_that_uses_up_the_day_is_that_days_end(cal: WorkingCalendar) -> None:
    assert cal.add(london(2026, 6, 12, 16), working(1)) == london(2026, 6, 12, 17)


def test_working_minutes_count_too(cal: WorkingCalendar) -> None:
    assert cal.add(london(2026, 6, 12, 16, 50), Duration.parse("30 working minutes")) == (
        london(2026, 6, 15, 9, 20)
    )


def test_zero_working_time_is_the_start_itself(cal: WorkingCalendar) -> None:
    saturday = london(2026, 6, 13, 12)
    assert cal.add(saturday, Duration(0, working=True)) == saturday


# -- bank holidays -----------------------------------------------------------------------


def test_christmas_2026_bank_holidays_and_the_weekend_are_skipped(cal: WorkingCalendar) -> None:
    # Thursday 24 Dec 15:00: 2 hours that day; Friday 25 (Christmas), the weekend and
    # Monday 28 (Boxing Day, substitute) are off; 6 more hours on Tuesday 29 Dec.
    assert cal.add(london(2026, 12, 24, 15), working(8)) == london(2026, 12, 29, 15)
    # Received on Christmas Day itself: nothing counts until Tuesday 09:00.
    assert cal.add(london(2026, 12, 25, 10), working(8)) == london(2026, 12, 29, 17)


def test_without_the_bank_holidays_christmas_would_be_a_working_day() -> None:
    no_holidays = calendar_with(bank_holidays=())
    assert no_holidays.add(london(2026, 12, 24, 15), working(8)) == london(2026, 12, 25, 15)


def test_easter_2026_good_friday_and_easter_monday_are_skipped(cal: WorkingCalendar) -> None:
    assert cal.add(london(2026, 4, 2, 16), working(4)) == london(2026, 4, 7, 12)


def test_a_bank_holiday_is_not_working_time(cal: WorkingCalendar) -> None:
    assert not cal.is_working_time(london(2026, 12, 28, 12))
    assert cal.working_window(date(2026, 12, 28)) is None
    assert cal.working_time_between(london(2026, 12, 24, 0), london(2026, 12, 30, 0)) == (
        timedelta(hours=16)
    )


# -- clock changes -----------------------------------------------------------------------


def test_72_elapsed_hours_across_the_october_2026_change_are_72_real_hours(
    cal: WorkingCalendar,
) -> None:
    received = london(2026, 10, 23, 12)  # Friday, BST
    due = cal.add(received, elapsed("72 hours"))
    assert due - received == timedelta(hours=72)
    # The clocks went back an hour, so the wall clock reads 11:00 GMT, not 12:00.
    assert due == london(2026, 10, 26, 11)
    assert due.astimezone(LONDON).hour == 11


def test_72_elapsed_hours_across_the_march_2026_change_are_72_real_hours(
    cal: WorkingCalendar,
) -> None:
    received = london(2026, 3, 27, 12)  # Friday, GMT
    due = cal.add(received, elapsed("72 hours"))
    assert due - received == timedelta(hours=72)
    assert due.astimezone(LONDON).hour == 13  # BST


@pytest.mark.parametrize(
    ("friday", "monday", "utc_hour"),
    [
        pytest.param(london(2026, 3, 27, 16), london(2026, 3, 30, 12), 11, id="march"),
        pytest.param(london(2026, 10, 23, 16), london(2026, 10, 26, 12), 12, id="october"),
    ],
)
def test_working_hours_over_a_change_over_weekend_keep_wall_clock_hours(
    cal: WorkingCalendar, friday: datetime, monday: datetime, utc_hour: int
) -> None:
    due = cal.add(friday, working(4))
    assert due == monday
    assert due.hour == utc_hour  # 12:00 London is 11:00 UTC in BST, 12:00 UTC in GMT


@pytest.mark.parametrize(
    ("monday", "hours"),
    [
        pytest.param(date(2026, 3, 23), 40, id="week-before-march-change"),
        pytest.param(date(2026, 3, 30), 32, id="week-after-march-change-good-friday"),
        pytest.param(date(2026, 10, 19), 40, id="week-before-october-change"),
        pytest.param(date(2026, 10, 26), 40, id="week-after-october-change"),
        pytest.param(date(2027, 3, 22), 32, id="2027-week-before-march-change-good-friday"),
        pytest.param(date(2027, 10, 25), 40, id="2027-week-before-october-change"),
    ],
)
def test_change_over_weeks_hold_8_working_hours_a_day_of_0900_to_1700(
    cal: WorkingCalendar, monday: date, hours: int
) -> None:
    start = london(monday.year, monday.month, monday.day)
    week_later = monday + timedelta(days=7)
    end = london(week_later.year, week_later.month, week_later.day)
    assert cal.working_time_between(start, end) == timedelta(hours=hours)
    for offset in range(5):
        window = cal.working_window(monday + timedelta(days=offset))
        if window is not None:
            assert [w.astimezone(LONDON).strftime("%H:%M") for w in window] == ["09:00", "17:00"]
            assert window[1] - window[0] == timedelta(hours=8)
    # The week's working hours from Monday 09:00 run out at 17:00 on its last working day.
    last = monday + timedelta(days=4 if hours == 40 else 3)
    monday_0900 = london(monday.year, monday.month, monday.day, 9)
    assert cal.add(monday_0900, working(hours)) == london(last.year, last.month, last.day, 17)


@pytest.mark.parametrize("sunday", [date(2026, 3, 29), date(2026, 10, 25)])
def test_a_change_over_sunday_is_8_hours_on_a_seven_day_calendar(sunday: date) -> None:
    every_day = calendar_with(working_days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    saturday = sunday - timedelta(days=1)
    start = london(saturday.year, saturday.month, saturday.day, 16)
    assert every_day.add(start, working(4)) == london(sunday.year, sunday.month, sunday.day, 12)
    window = every_day.working_window(sunday)
    assert window is not None
    assert window[1] - window[0] == timedelta(hours=8)


def test_a_night_window_holds_the_real_time_between_its_wall_clock_edges() -> None:
    night = calendar_with(working_days=("sun",), day_starts="00:00", day_ends="03:00")
    march, october = (
        night.working_window(date(2026, 3, 29)),
        night.working_window(date(2026, 10, 25)),
    )
    assert march is not None and october is not None
    assert march[1] - march[0] == timedelta(hours=2)  # 01:00 to 02:00 never happens
    assert october[1] - october[0] == timedelta(hours=4)  # 01:00 to 02:00 happens twice
    # From 00:30 on the March Sunday, 1 working hour ends at 02:30 BST (01:30 UTC).
    assert night.add(london(2026, 3, 29, 0, 30), working(1)) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )


def test_an_edge_the_clock_skips_is_the_moment_it_jumps() -> None:
    # 01:30 on 29 March 2026 never shows in London: the clock jumps from 01:00 GMT to
    # 02:00 BST at 01:00 UTC, so a window "01:30"-"02:30" runs from 01:00 to 01:30 UTC.
    odd = calendar_with(working_days=("sun",), day_starts="01:30", day_ends="02:30")
    assert odd.working_window(date(2026, 3, 29)) == (
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    )
    # An edge shown twice (01:30 on 25 October) is its first showing, 00:30 UTC (BST).
    window = odd.working_window(date(2026, 10, 25))
    assert window is not None
    assert window[0] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert window[1] == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)


# -- decision and response deadlines -----------------------------------------------------


def test_red_counting_outside_working_hours_is_received_plus_4_real_hours(
    cal: WorkingCalendar,
) -> None:
    received = london(2026, 6, 12, 16)
    due = deadline_for("red", received, TIMESCALES, cal, red_counts_outside_working_hours=True)
    assert due == received + timedelta(hours=4)
    saturday_night = london(2026, 6, 13, 23)
    assert deadline_for("Red", saturday_night, TIMESCALES, cal, True) == london(2026, 6, 14, 3)


def test_red_within_working_hours_only_when_the_calendar_says_so(cal: WorkingCalendar) -> None:
    received = london(2026, 6, 12, 16)
    due = deadline_for("red", received, TIMESCALES, cal, red_counts_outside_working_hours=False)
    assert due == london(2026, 6, 15, 12)


def test_amber_is_24_working_hours_and_green_72_real_hours(cal: WorkingCalendar) -> None:
    received = london(2026, 6, 12, 16)
    assert deadline_for("amber", received, TIMESCALES, cal, True) == london(2026, 6, 17, 16)
    assert deadline_for("GREEN", received, TIMESCALES, cal, True) == london(2026, 6, 15, 16)


def test_re_rating_gives_the_deadline_of_the_new_rating(cal: WorkingCalendar) -> None:
    received = london(2026, 6, 15, 10)
    amber = deadline_for("amber", received, TIMESCALES, cal, True)
    red = deadline_for("red", received, TIMESCALES, cal, True)
    assert red < amber
    assert (red, amber) == (london(2026, 6, 15, 14), london(2026, 6, 18, 10))


def test_an_unknown_rating_is_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="red, amber or green"):
        deadline_for("purple", london(2026, 6, 15, 10), TIMESCALES, cal, True)


def test_partner_response_due_red_2_hours_amber_6_working_hours(cal: WorkingCalendar) -> None:
    requested = london(2026, 6, 12, 16)
    assert response_due("red", requested, TIMESCALES, cal) == london(2026, 6, 12, 18)
    assert response_due("amber", requested, TIMESCALES, cal) == london(2026, 6, 15, 14)


def test_a_green_request_has_no_response_deadline(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="Green"):
        response_due("green", london(2026, 6, 12, 16), TIMESCALES, cal)


# -- configuration -----------------------------------------------------------------------


def test_environment_overrides_working_days_and_day_start() -> None:
    settings = load_settings(
        environ={
            "MASH_CALENDAR__WORKING_DAYS": "mon,tue",
            "MASH_CALENDAR__DAY_STARTS": "08:00",
            "MASH_TIMESCALES__DECISION__AMBER": "10 working hours",
        }
    )
    cal = WorkingCalendar.from_settings(settings.calendar)
    tuesday = london(2026, 6, 16, 16)
    # One hour on Tuesday, none Wednesday to Sunday, then from Monday 08:00.
    assert cal.add(tuesday, working(4)) == london(2026, 6, 22, 11)
    assert not cal.is_working_time(london(2026, 6, 17, 10))
    assert cal.is_working_time(london(2026, 6, 22, 8))
    due = deadline_for("amber", tuesday, settings.timescales, cal, True)
    # 1 hour on Tuesday and 9 on Monday (08:00-17:00) make 10, ending at Monday's close.
    assert due == london(2026, 6, 22, 17)


def test_config_file_sets_the_calendar(tmp_path: Path) -> None:
    path = tmp_path / "mash.toml"
    path.write_text(
        "[calendar]\n"
        'timezone = "Europe/London"\n'
        'working_days = ["MON", "Wed"]\n'
        'day_starts = "10:00"\n'
        'day_ends = "16:30"\n'
        'bank_holidays = ["2026-06-17"]\n'
    )
    cal = WorkingCalendar.from_settings(load_settings(path, environ={}).calendar)
    # Monday 15 June 16:00 has 30 minutes left; Wednesday 17 June is a holiday here.
    assert cal.add(london(2026, 6, 15, 16), working(1)) == london(2026, 6, 22, 10, 30)


def test_another_time_zone_keeps_its_own_wall_clock() -> None:
    cal = calendar_with(timezone="America/New_York", bank_holidays=())
    new_york = ZoneInfo("America/New_York")
    friday = datetime(2026, 6, 12, 16, tzinfo=new_york)
    assert cal.add(friday, working(4)) == datetime(2026, 6, 15, 12, tzinfo=new_york)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"working_days": ("mon", "funday")}, "working days"),
        ({"working_days": ()}, "at least one working day"),
        ({"day_starts": "9am"}, "time of day"),
        ({"day_starts": "24:00"}, "time of day"),
        ({"day_ends": "25:00"}, "time of day"),
        ({"day_starts": "17:00", "day_ends": "09:00"}, "start before it ends"),
        ({"day_starts": "09:00", "day_ends": "09:00"}, "start before it ends"),
        ({"timezone": "Europe/Atlantis"}, "time zone"),
        ({"bank_holidays": ("25/12/2026",)}, "bank holidays"),
    ],
)
def test_a_bad_calendar_setting_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calendar_with(**changes)


def test_day_ends_may_be_2400_the_end_of_the_day() -> None:
    cal = calendar_with(day_starts="00:00", day_ends="24:00", bank_holidays=())
    # Mon-Fri round the clock: Friday 20:00 + 6 working hours is Monday 02:00.
    assert cal.add(london(2026, 6, 12, 20), working(6)) == london(2026, 6, 15, 2)


# -- queries and inputs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (london(2026, 6, 15, 9), True),
        (london(2026, 6, 15, 16, 59), True),
        (london(2026, 6, 15, 17), False),
        (london(2026, 6, 15, 8, 59), False),
        (london(2026, 6, 13, 12), False),
        (london(2026, 5, 25, 12), False),  # spring bank holiday
    ],
)
def test_is_working_time(cal: WorkingCalendar, moment: datetime, expected: bool) -> None:
    assert cal.is_working_time(moment) is expected


def test_working_time_between_shows_time_left_and_time_overdue(cal: WorkingCalendar) -> None:
    friday, monday = london(2026, 6, 12, 16), london(2026, 6, 15, 12)
    assert cal.working_time_between(friday, monday) == timedelta(hours=4)
    assert cal.working_time_between(monday, friday) == -timedelta(hours=4)
    assert cal.working_time_between(friday, friday) == timedelta(0)
    assert cal.working_time_between(london(2026, 6, 13), london(2026, 6, 14)) == timedelta(0)


def test_any_aware_input_gives_the_same_utc_answer(cal: WorkingCalendar) -> None:
    in_london = london(2026, 6, 12, 16)
    in_utc = in_london.astimezone(UTC)
    in_karachi = in_london.astimezone(timezone(timedelta(hours=5)))
    answers = {cal.add(moment, working(4)) for moment in (in_london, in_utc, in_karachi)}
    assert answers == {london(2026, 6, 15, 12)}


def test_a_naive_datetime_is_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="aware"):
        cal.add(datetime(2026, 6, 12, 16), working(4))
    with pytest.raises(ValueError, match="aware"):
        cal.working_time_between(datetime(2026, 6, 12, 16), london(2026, 6, 15, 12))


def test_a_year_of_working_time_is_quick(cal: WorkingCalendar) -> None:
    start = london(2026, 1, 5, 9)
    began = timer.perf_counter()
    due = cal.add(start, working(8760))  # 1,095 working days: over four calendar years
    between = cal.working_time_between(start, due)
    spent = timer.perf_counter() - began
    assert between == timedelta(hours=8760)
    assert date(2030, 3, 1) < due.date() < date(2030, 6, 1)
    assert cal.add(start, elapsed("365 days")) == start + timedelta(days=365)
    assert spent < 0.5
