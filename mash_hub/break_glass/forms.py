"""Forms for break-glass: opening it, and reviewing a use."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Regexp

from mash_hub.identity.forms import SecurityCodeForm


class BreakGlassForm(SecurityCodeForm):
    reference = StringField(
        "Contact reference",
        widget=GovTextInput(),
        filters=[lambda v: v.strip().upper() if isinstance(v, str) else v],
        validators=[
            InputRequired(message="Enter the contact reference, like MASH-2026-000123"),
            Length(max=20, message="Enter the contact reference, like MASH-2026-000123"),
            Regexp(
                r"^MASH-\d{4}-\d{6}$", message="Enter the contact reference, like MASH-2026-000123"
            ),
        ],
    )
    reason = TextAreaField(
        "Why do you need emergency access?",
        widget=GovCharacterCount(),
        validators=[
            InputRequired(message="Give the reason for emergency access"),
            Length(max=2000, message="The reason must be 2000 characters or fewer"),
        ],
    )
    # The security code again, declared after the reason: the error summary lists problems
    # in the order the fields are declared, which must be the page's order.
    code = StringField(
        SecurityCodeForm.code.args[0],
        **SecurityCodeForm.code.kwargs,
    )
    submit = SubmitField("Open emergency access", widget=GovSubmitInput())


class ReviewForm(FlaskForm):
    outcome = RadioField(
        "Was this use of emergency access justified?",
        widget=GovRadioInput(),
        choices={"justified": "Yes, justified", "not_justified": "No, not justified"},
        validators=[InputRequired(message="Choose whether the use was justified")],
    )
    notes = TextAreaField(
        "Notes",
        widget=GovTextArea(),
        validators=[Length(max=2000, message="Notes must be 2000 characters or fewer")],
    )
    submit = SubmitField("Record the review", widget=GovSubmitInput())
