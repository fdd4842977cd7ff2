"""Forms of the governance workspace: the audit search (a GET form) and the export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovSubmitInput, GovTextInput
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional, Regexp, ValidationError

from mash_hub.agencies import AGENCIES
from mash_hub.identity.forms import SecurityCodeForm
from mash_hub.policy.types import Action

DATE_HINT = "For example, 2026-11-30"
_REFERENCE = r"^MASH-\d{4}-\d{6}$"
_UUID = r"^[0-9a-fA-F-]{32,36}$"


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _day(field: StringField) -> datetime | None:
    if not field.data:
        return None
    try:
        return datetime.combine(datetime.strptime(field.data, "%Y-%m-%d").date(), time(), UTC)
    except ValueError:
        raise ValidationError(f"Enter the date as year-month-day. {DATE_HINT}") from None


def _a_uuid(_form: Any, field: Any) -> None:
    """The pattern lets through strings of the right letters that are no UUID (36 dashes)."""
    try:
        uuid.UUID(field.data)
    except ValueError:
        raise ValidationError("Enter the person id, a UUID") from None


class AuditSearchForm(FlaskForm):
    """Read from the query string, so a search is a link that can be shared and paged."""

    class Meta:
        csrf = False

    reference = StringField(
        "Contact reference",
        widget=GovTextInput(),
        filters=[lambda v: v.strip().upper() if isinstance(v, str) else v],
        validators=[
            Optional(),
            Regexp(_REFERENCE, message="Enter a contact reference like MASH-2026-000123"),
        ],
    )
    person = StringField(
        "Child or person id (from the person register)",
        widget=GovTextInput(),
        filters=[_strip],
        validators=[Optional(), Regexp(_UUID, message="Enter the person id, a UUID"), _a_uuid],
    )
    actor = StringField(
        "User or API client id",
        widget=GovTextInput(),
        filters=[_strip],
        validators=[Optional(), Regexp(_UUID, message="Enter the id shown in the audit, a UUID")],
    )
    agency = SelectField(
        "Agency of the person or system",
        widget=GovSelect(),
        choices={"": "Any agency", **{a.code: a.name for a in AGENCIES}},
        validators=[Optional()],
    )
    action = SelectField(
        "Action",
        widget=GovSelect(),
        choices={"": "Any action", **{a.value: a.value for a in Action}},
        validators=[Optional()],
    )
    decision = SelectField(
        "Decision",
        widget=GovSelect(),
        choices={"": "Allowed or refused", "allow": "Allowed", "deny": "Refused"},
        validators=[Optional()],
    )
    isa = StringField(
        "Agreement id",
        widget=GovTextInput(),
        filters=[lambda v: v.strip().upper() if isinstance(v, str) else v],
        validators=[
            Optional(),
            Length(max=40, message="Enter an agreement id like ISA-MASH-HEALTH"),
            Regexp(r"^[A-Z0-9-]+$", message="Enter an agreement id like ISA-MASH-HEALTH"),
        ],
    )
    since = StringField("From (UTC day, inclusive)", widget=GovTextInput(), filters=[_strip])
    until = StringField("To (UTC day, inclusive)", widget=GovTextInput(), filters=[_strip])
    submit = SubmitField("Search", widget=GovSubmitInput())

    def validate_since(self, field: StringField) -> None:
        _day(field)

    def validate_until(self, field: StringField) -> None:
        _day(field)
        start, end = self.since_moment, self.until_moment
        if start and end and end <= start:
            raise ValidationError("The end date must be the same as or after the start date")

    @property
    def since_moment(self) -> datetime | None:
        try:
            return _day(self.since)
        except ValidationError:
            return None

    @property
    def until_moment(self) -> datetime | None:
        """The end of the chosen day, so "to 30 November" includes all of it."""
        try:
            day = _day(self.until)
        except ValidationError:
            return None
        return day + timedelta(days=1) if day else None


class ExportForm(SecurityCodeForm):
    submit = SubmitField("Download CSV", widget=GovSubmitInput())
