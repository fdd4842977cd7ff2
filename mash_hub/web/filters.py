"""The pages' Jinja filters for times: one module (`mash_hub.uktime`), one style."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask

from mash_hub import runtime, uktime


def init_app(app: Flask) -> None:
    app.add_template_filter(uktime.when, "when")
    app.add_template_filter(lambda m: uktime.when(m, seconds=True), "when_precise")
    app.add_template_filter(uktime.day, "day")
    app.add_template_filter(uktime.short_day, "short_day")
    app.add_template_filter(time_left, "time_left")
    app.add_template_filter(span_left, "span_left")
    app.add_template_filter(uktime.span, "span")
    app.add_template_filter(time_since, "time_since")


def time_left(due: datetime | None) -> str:
    """ "3 hours 27 minutes left" or "Overdue by 2 hours", from now (the hub's clock)."""
    if due is None:
        return "Not rated yet"
    return uktime.time_left(due, runtime.now())


def span_left(left: timedelta) -> str:
    """A time left already worked out ("2 hours 5 minutes left"; "Overdue by..." once past)."""
    now = runtime.now()
    return uktime.time_left(now + left, now)


def time_since(moment: datetime) -> str:
    """ "3 hours 5 minutes ago", from the hub's clock."""
    return f"{uktime.span(runtime.now() - moment)} ago"
