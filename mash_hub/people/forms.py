"""Forms for linking subjects to the person register and for merges."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovRadioInput,
    GovSubmitInput,
)
from wtforms import HiddenField, RadioField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Regexp

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_CHOOSE = "Choose a person from the list"


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
