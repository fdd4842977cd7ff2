"""Forms of the governance workspace: the audit search (a GET form) and the export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovSubmitInput, GovTextInput
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional, Regexp, ValidationError

from mash_hub import uktime
from mash_hub.agencies import AGENCIES
from mash_hub.contacts.identifiers import nhs_number_valid
from mash_hub.identity.forms import SecurityCodeForm
from mash_hub.people.forms import NameAndBirth
from mash_hub.policy.types import Action

DATE_HINT = "For example, 30/11/2026"
_REFERENCE = r"^MASH-\d{4}-\d{6}$"
_UUID = r"^[0-9a-fA-F-]{32,36}$"


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _day(field: StringField) -> datetime | None:
    """The start of a UK day, written as the intake page writes dates (30/11/2026); the
    ISO form (2026-11-30) that earlier links carry is read too."""
    if not field.data:
        return None
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            day = datetime.strptime(field.data, pattern).date()
        except ValueError:
            continue
        return datetime.combine(day, time(), uktime.UK).astimezone(UTC)
    raise ValidationError(f"Enter a real date as day/month/year. {DATE_HINT}")


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
    since = StringField("From (UK date, inclusive)", widget=GovTextInput(), filters=[_strip])
    until = StringField("To (UK date, inclusive)", widget=GovTextInput(), filters=[_strip])
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
        if day is None:
            return None
        # The next UK midnight: a day of a clock change is 23 or 25 hours long.
        following = uktime.uk(day).date() + timedelta(days=1)
        return datetime.combine(following, time(), uktime.UK).astimezone(UTC)


class ExportForm(SecurityCodeForm):
    submit = SubmitField("Download CSV", widget=GovSubmitInput())


class ChildLookupForm(NameAndBirth, FlaskForm):
    """ "Who accessed this child": posted, so what is typed never sits in a link or a log."""

    nhs_number = StringField("NHS number", widget=GovTextInput(), filters=[_strip])
    given_name = StringField("First name", widget=GovTextInput(), filters=[_strip])
    family_name = StringField("Last name", widget=GovTextInput(), filters=[_strip])
    date_of_birth = StringField("Date of birth", widget=GovTextInput(), filters=[_strip])
    submit = SubmitField("Find the child", widget=GovSubmitInput())

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        named = any((self.given_name.data, self.family_name.data, self.date_of_birth.data))
        if self.nhs_number.data:
            if named:
                self.nhs_number.errors = [
                    "Enter the NHS number, or the name and date of birth, not both"
                ]
                return False
            if not nhs_number_valid(self.nhs_number.data):
                self.nhs_number.errors = ["Enter a real NHS number: 10 digits, like 943 476 5919"]
                return False
            return True
        if not named:
            self.nhs_number.errors = [
                "Enter the child's NHS number, or their name and date of birth"
            ]
            return False
        return self.name_and_birth_valid("the child's")
