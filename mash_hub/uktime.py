"""Times for people: the hub keeps UTC and shows UK time (Europe/London), in the GOV.UK
style, one way on every page: "4 December 2026", "2:30pm", "midday", "midnight", and one
way to say how long is left ("3 hours 27 minutes left", "Overdue by 2 days 4 hours").
The JSON API keeps UTC with its offset; this module is for pages and messages only."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")

# What forms accept: a day as 30/11/2026 (or with dots or dashes), a time as 14:30.
DAY_RE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
TIME_RE = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*$")


def wall_clock(day_text: str, time_text: str, zone: tzinfo = UK) -> datetime | None:
    """A date and time as typed on a wall clock in `zone` (UK time), as UTC; None if either
    part is not a real one."""
    day, clock = DAY_RE.match(day_text or ""), TIME_RE.match(time_text or "")
    if day is None or clock is None:
        return None
    try:
        wall = datetime(
            int(day.group(3)),
            int(day.group(2)),
            int(day.group(1)),
            int(clock.group(1)),
            int(clock.group(2)),
        )
    except ValueError:
        return None
    return wall.replace(tzinfo=zone).astimezone(UTC)


def uk(moment: datetime) -> datetime:
    """`moment` in UK time; a naive moment is taken as UTC, as the database keeps it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UK)


def day(value: date | datetime | None) -> str:
    """ "4 December 2026": a date as it is, or the UK day a moment falls on."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = uk(value).date()
    return f"{value.day} {value:%B %Y}"


def short_day(value: date | datetime | None) -> str:
    """ "4 Dec": for a chart's axis, where a full date does not fit."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = uk(value).date()
    return f"{value.day} {value:%b}"


def clock(moment: datetime, *, seconds: bool = False) -> str:
    """ "9:05am", "2:30pm", "midday", "midnight" (GOV.UK style), in UK time."""
    local = uk(moment)
    if not seconds and local.minute == 0 and local.hour in (0, 12):
        return "midnight" if local.hour == 0 else "midday"
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    tail = f":{local.second:02d}" if seconds else ""
    return f"{hour}:{local.minute:02d}{tail}{suffix}"


def when(moment: datetime | None, *, seconds: bool = False) -> str:
    """ "4 December 2026 at 2:30pm", in UK time; "" for none."""
    if moment is None:
        return ""
    return f"{day(moment)} at {clock(moment, seconds=seconds)}"


def span(amount: timedelta) -> str:
    """ "2 days 4 hours", "3 hours 27 minutes", "5 minutes", "less than a minute"."""
    minutes = int(abs(amount).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes and not days:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts) or "less than a minute"


def time_left(due: datetime, now: datetime) -> str:
    """ "3 hours 27 minutes left", or "Overdue by 2 hours" once `due` has passed."""
    left = due - now
    if left < timedelta(0):
        return f"Overdue by {span(left)}"
    return f"{span(left)} left"
