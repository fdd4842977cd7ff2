"""Forms for linking subjects to the person register and for merges."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovRadioInput,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import HiddenField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Regexp

from mash_hub.contacts.identifiers import nhs_number_valid

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_CHOOSE = "Choose a person from the list"


_REFERENCE = re.compile(r"MASH-\d{4}-\d{6}")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class LinkForm(FlaskForm):
    person_id = HiddenField(
        "Person",
        validators=[
            InputRequired(message=_CHOOSE),
            Length(max=36, message=_CHOOSE),
            Regexp(UUID_PATTERN, message=_CHOOSE),
        ],
    )
    submit = SubmitField("Link to this person", widget=GovSubmitInput())


class NewPersonForm(FlaskForm):
    submit = SubmitField("None of these: add as a new person", widget=GovSubmitInput())


class MergeForm(FlaskForm):
    survivor_id = RadioField(
        "Which record should be kept?",
        description=(
            "Keep the record with the fuller, verified details (an NHS number, a date of birth). "
            "Merge only records of one person: never a parent and a child, or two siblings."
        ),
        widget=GovRadioInput(),
        validators=[InputRequired(message="Choose the record to keep")],
    )
    merged_id = RadioField(
        "Which record is the same person and should be merged into it?",
        description="Its contacts and details move to the record you keep. A manager approves it.",
        widget=GovRadioInput(),
        validators=[InputRequired(message="Choose the record to merge")],
    )
    reason = TextAreaField(
        "Why are these the same person?",
        widget=GovCharacterCount(),
        validators=[
            InputRequired(message="Give the reason for the merge"),
            Length(max=500, message="The reason must be 500 characters or fewer"),
        ],
    )
    submit = SubmitField("Propose the merge", widget=GovSubmitInput())


class MergeDecisionForm(FlaskForm):
    decision = RadioField(
        "Are these the same person?",
        widget=GovRadioInput(),
        choices={"approve": "Yes, approve the merge", "reject": "No, reject the merge"},
        validators=[InputRequired(message="Choose whether to approve or reject the merge")],
    )
    override_reason = TextAreaField(
        "Why are they the same person, despite this?",
        widget=GovCharacterCount(),
        validators=[
            Length(max=500, message="The reason must be 500 characters or fewer"),
        ],
    )
    submit = SubmitField("Record the decision", widget=GovSubmitInput())


class RejectRepeatForm(FlaskForm):
    """CSRF only: the possible repeat to reject is in the address."""

    submit = SubmitField("Not the same person", widget=GovSubmitInput())


class UndoMergeForm(FlaskForm):
    submit = SubmitField("Undo this merge", widget=GovSubmitInput())


class NameAndBirth:
    """For a form with `given_name`, `family_name` and `date_of_birth` fields that are
    asked for together (a person looked up by name and date of birth)."""

    given_name: StringField
    family_name: StringField
    date_of_birth: StringField

    def name_and_birth_valid(self, whose: str = "the") -> bool:
        """All three given, and the date a real one; the first problem marks its field."""
        for field, message in (
            (self.given_name, f"Enter {whose} first name"),
            (self.family_name, f"Enter {whose} last name"),
            (self.date_of_birth, f"Enter {whose} date of birth"),
        ):
            if not field.data:
                field.errors = [message]
                return False
        if self.birth_day() is None:
            self.date_of_birth.errors = [
                "Enter a real date of birth as day/month/year, like 02/04/2015"
            ]
            return False
        return True

    def birth_day(self) -> date | None:
        try:
            return datetime.strptime(self.date_of_birth.data or "", "%d/%m/%Y").date()
        except ValueError:
            return None


class ContactSearchForm(NameAndBirth, FlaskForm):
    """Find a contact, open or closed: by one of a reference, an NHS number, a name with a
    date of birth, or an address. Posted, so what is typed never sits in a link or a log."""

    reference = StringField("Contact reference", widget=GovTextInput(), filters=[_strip])
    nhs_number = StringField("NHS number", widget=GovTextInput(), filters=[_strip])
    given_name = StringField("First name", widget=GovTextInput(), filters=[_strip])
    family_name = StringField("Last name", widget=GovTextInput(), filters=[_strip])
    date_of_birth = StringField("Date of birth", widget=GovTextInput(), filters=[_strip])
    address = StringField("Address", widget=GovTextInput(), filters=[_strip])
    submit = SubmitField("Search", widget=GovSubmitInput())

    def kind(self) -> str | None:
        """Which search the form asks for, once valid."""
        if self.reference.data:
            return "reference"
        if self.nhs_number.data:
            return "nhs_number"
        if self.given_name.data or self.family_name.data or self.date_of_birth.data:
            return "name_and_birth"
        if self.address.data:
            return "address"
        return None

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        kinds = [
            bool(self.reference.data),
            bool(self.nhs_number.data),
            bool(self.given_name.data or self.family_name.data or self.date_of_birth.data),
            bool(self.address.data),
        ]
        if sum(kinds) == 0:
            self.reference.errors = [
                "Enter a contact reference, an NHS number, a name and date of birth, or an address"
            ]
            return False
        if sum(kinds) > 1:
            self.reference.errors = ["Search by one of these at a time"]
            return False
        kind = self.kind()
        if kind == "reference" and not _REFERENCE.fullmatch(self.reference.data.upper()):
            self.reference.errors = ["Enter the contact reference, like MASH-2026-000123"]
            return False
        if kind == "nhs_number" and not nhs_number_valid(self.nhs_number.data):
            self.nhs_number.errors = ["Enter a real NHS number: 10 digits, like 943 476 5919"]
            return False
        if kind == "name_and_birth" and not self.name_and_birth_valid():
            return False
        if kind == "address" and not any(ch.isdigit() for ch in self.address.data):
            self.address.errors = [
                "Enter the house number and the postcode or street, like 12 Mill Lane, AB1 2CD"
            ]
            return False
        return True
