"""Forms for disclosures: starting one, an originator's decision, and completing one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovCheckboxesInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import (
    HiddenField,
    RadioField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length

from mash_hub.agencies import AGENCIES
from mash_hub.identity.forms import SecurityCodeForm

OUTSIDE = "outside"
RECIPIENT_CHOICES = {
    **{agency.code: agency.name for agency in AGENCIES},
    OUTSIDE: "An organisation outside the hub (a court, a school, another council...)",
}


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class DisclosureForm(FlaskForm):
    """Two steps: who, why and what; then the lawful basis, offered from the agreements the
    recipient's agency is party to (the core agreement for an organisation outside the hub)."""

    step = HiddenField()
    recipient_agency = RadioField(
        "Who is receiving the information?",
        widget=GovRadioInput(),
        choices=RECIPIENT_CHOICES,
        validators=[InputRequired(message="Choose who is receiving the information")],
    )
    # Required for an organisation outside the hub; the view checks it.
    recipient_organisation = StringField(
        "Recipient organisation",
        description="The organisation's name, if it is outside the hub",
        widget=GovTextInput(),
        filters=[_strip],
        validators=[
            Length(max=200, message="The organisation must be 200 characters or fewer"),
        ],
    )
    recipient_person = StringField(
        "Named person or role receiving it",
        widget=GovTextInput(),
        filters=[_strip],
        validators=[
            DataRequired(message="Enter the named person or role receiving the information"),
            Length(max=200, message="The person or role must be 200 characters or fewer"),
        ],
    )
    purpose = TextAreaField(
        "Purpose of the disclosure",
        widget=GovCharacterCount(),
        filters=[_strip],
        validators=[
            DataRequired(message="Give the purpose of the disclosure"),
            Length(max=2000, message="The purpose must be 2000 characters or fewer"),
        ],
    )
    # Offered on the second step only; the view checks the choice against what it offered.
    lawful_basis = RadioField(
        "Lawful basis",
        widget=GovRadioInput(),
        choices=[],
        validate_choice=False,
    )
    items = SelectMultipleField(
        "Information to release",
        widget=GovCheckboxesInput(),
        choices=[],
        validators=[DataRequired(message="Choose at least one item to release")],
    )
    proceed = SubmitField("Continue", widget=GovSubmitInput())
    change = SubmitField("Change the details", widget=GovSubmitInput())
    submit = SubmitField("Record the disclosure", widget=GovSubmitInput())


class ApprovalForm(FlaskForm):
    decision = RadioField(
        "Do you approve releasing your agency's restricted information?",
        widget=GovRadioInput(),
        choices={"approved": "Yes, approve the release", "refused": "No, refuse the release"},
        validators=[InputRequired(message="Choose whether to approve or refuse the release")],
    )
    reason = TextAreaField(
        "Why? (required if you refuse)",
        widget=GovCharacterCount(),
        filters=[_strip],
        validators=[Length(max=2000, message="The reason must be 2000 characters or fewer")],
    )
    submit = SubmitField("Record the decision", widget=GovSubmitInput())


class CompleteForm(SecurityCodeForm):
    submit = SubmitField("Complete the disclosure", widget=GovSubmitInput())
