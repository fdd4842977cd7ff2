"""The reports' choice of range and period: a GET form, so a set of figures is a link."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput
from wtforms import RadioField, StringField, SubmitField

from mash_hub.reports.services import LONGEST, PERIODS, Window

_PERIOD_CHOICES = {"week": "By week", "month": "By month", "quarter": "By quarter"}


def _day(day: str | None, month: str | None, year: str | None) -> date | None:
    """A GOV.UK date input's three boxes as a date; None if it is not a real one."""
    parts = [(part or "").strip() for part in (day, month, year)]
    if not all(part.isdigit() and len(part) <= 4 for part in parts):
        return None
    try:
        found = date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return None
    return found if 2000 <= found.year <= 2100 else None


class ReportForm(FlaskForm):
    class Meta:
        csrf = False

    period = RadioField(
        "Show the figures",
        widget=GovRadioInput(),
        choices=_PERIOD_CHOICES,
        default="month",
        validate_choice=False,
    )
    # Each date's errors sit on the field the error summary links to (the day box).
    from_date = StringField("From")
    from_day = StringField("Day")
    from_month = StringField("Month")
    from_year = StringField("Year")
    to_date = StringField("To")
    to_day = StringField("Day")
    to_month = StringField("Month")
    to_year = StringField("Year")
    submit = SubmitField("Show the figures", widget=GovSubmitInput())

    def fill(self, window: Window) -> None:
        """Show `window` in the boxes (the page's first view, with no choice made)."""
        self.period.data = window.period
        for prefix, day in (("from", window.first), ("to", window.last)):
            getattr(self, f"{prefix}_day").data = str(day.day)
            getattr(self, f"{prefix}_month").data = str(day.month)
            getattr(self, f"{prefix}_year").data = str(day.year)

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        self.window: Window | None = None
        if self.period.data not in PERIODS:
            self.period.errors = ["Choose by week, by month or by quarter"]
        first = _day(self.from_day.data, self.from_month.data, self.from_year.data)
        last = _day(self.to_day.data, self.to_month.data, self.to_year.data)
        if first is None:
            self.from_date.errors = ["Enter a real start date, like 1 4 2026"]
        if last is None:
            self.to_date.errors = ["Enter a real end date, like 31 3 2027"]
        elif first is not None and last < first:
            self.to_date.errors = ["The end date must be the same as or after the start date"]
        elif first is not None and last - first > LONGEST:
            self.to_date.errors = ["Choose a range of at most three years"]
        if self.errors or first is None or last is None:
            return False
        self.window = Window(first, last, self.period.data)  # type: ignore[arg-type]
        return True
