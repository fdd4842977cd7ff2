"""UK time on pages (usability review D4, m4, m13): Europe/London whatever the season, the
GOV.UK style for dates and times, and one way to say how long is left."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mash_hub import uktime


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        # British Summer Time: 09:00 UTC is 10:00 in London (the review's D4).
        (datetime(2026, 7, 15, 9, 0, tzinfo=UTC), "15 July 2026 at 10:00am"),
        # Greenwich Mean Time: the same.
        (datetime(2026, 12, 4, 14, 30, tzinfo=UTC), "4 December 2026 at 2:30pm"),
        (datetime(2026, 12, 4, 12, 0, tzinfo=UTC), "4 December 2026 at midday"),
        (datetime(2026, 12, 4, 0, 0, tzinfo=UTC), "4 December 2026 at midnight"),
        # 23:30 UTC on 30 June is already 1 July in London.
        (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), "1 July 2026 at 12:30am"),
        # The clocks go forward at 01:00 UTC on 29 March 2026...
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "29 March 2026 at 12:59am"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "29 March 2026 at 2:00am"),
        # ...and back at 01:00 UTC on 25 October 2026 (01:30 happens twice).
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "25 October 2026 at 1:30am"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "25 October 2026 at 1:30am"),
        (datetime(2026, 10, 25, 2, 0, tzinfo=UTC), "25 October 2026 at 2:00am"),
        # A naive moment is the database's UTC.
        (datetime(2026, 7, 15, 9, 5), "15 July 2026 at 10:05am"),
    ],
)
def test_moments_are_shown_in_uk_time(moment, shown):
    assert uktime.when(moment) == shown


def test_dates_have_no_leading_zero_and_plain_dates_do_not_move():
    assert uktime.day(date(2026, 12, 4)) == "4 December 2026"
    assert uktime.day(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == "1 July 2026"
    assert uktime.short_day(date(2026, 12, 4)) == "4 Dec"
    assert uktime.day(None) == uktime.when(None) == ""


def test_seconds_for_the_audit_trail():
    moment = datetime(2026, 7, 15, 11, 0, 7, tzinfo=UTC)
    assert uktime.when(moment, seconds=True) == "15 July 2026 at 12:00:07pm"


@pytest.mark.parametrize(
    ("left", "said"),
    [
        (timedelta(hours=3, minutes=27), "3 hours 27 minutes left"),
        (timedelta(days=2, hours=4, minutes=10), "2 days 4 hours left"),
        (timedelta(days=1), "1 day left"),
        (timedelta(minutes=1), "1 minute left"),
        (timedelta(seconds=20), "less than a minute left"),
        (timedelta(hours=-23), "Overdue by 23 hours"),
        (timedelta(days=-3, hours=-2), "Overdue by 3 days 2 hours"),
    ],
)
def test_one_way_to_say_how_long_is_left(left, said):
    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    assert uktime.time_left(now + left, now) == said
