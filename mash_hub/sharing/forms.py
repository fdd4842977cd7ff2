"""Forms for sending a request and for answering one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovCheckboxInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
)
from wtforms import BooleanField, RadioField, SelectField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from mash_hub.agencies import AGENCIES
from mash_hub.sharing.services import ITEM_MAX, QUESTION_MAX, REASON_MAX

ITEM_SLOTS = 3  # items a researcher can give on the page at once (the API takes more)


class SendRequestForm(FlaskForm):
    agency = SelectField(
        "Agency to ask",
        widget=GovSelect(),
        # Nothing chosen until the screener chooses: a pre-selected agency is an easy
        # mis-send (#13, usability review m15).
        choices={
            "": "Choose an agency",
            **{
                agency.code: agency.name
                for agency in AGENCIES
                if not agency.mash_core and agency.answers_requests
            },
        },
        validators=[InputRequired(message="Choose the agency to ask")],
    )
    question = TextAreaField(
        "What do you need to know?",
        widget=GovCharacterCount(),
        validators=[
            InputRequired(message="Write the question"),
            Length(
                max=QUESTION_MAX, message=f"The question must be {QUESTION_MAX} characters or fewer"
            ),
        ],
    )
    submit = SubmitField("Send the request", widget=GovSubmitInput())


class AnswerForm(FlaskForm):
    outcome = RadioField(
        "What does your agency hold?",
        widget=GovRadioInput(),
        choices={
            "not_known": "Not known to us",
            "information_held": "Information held",
            "unable_to_respond": "Unable to respond",
        },
        validators=[InputRequired(message="Choose what your agency holds")],
    )
    item1_kind = RadioField(
        "First item is",
        widget=GovRadioInput(),
        choices={"fact": "Fact", "opinion": "Opinion"},
        default="fact",
        validators=[Optional()],
    )
    item1_text = TextAreaField(
        "First item",
        widget=GovTextArea(),
        validators=[
            Length(max=ITEM_MAX, message=f"Each item must be {ITEM_MAX} characters or fewer")
        ],
    )
    item1_restricted = BooleanField(
        "Restrict this item to MASH managers", widget=GovCheckboxInput()
    )
    item2_kind = RadioField(
        "Second item is",
        widget=GovRadioInput(),
        choices={"fact": "Fact", "opinion": "Opinion"},
        default="fact",
        validators=[Optional()],
    )
    item2_text = TextAreaField(
        "Second item",
        widget=GovTextArea(),
        validators=[
            Length(max=ITEM_MAX, message=f"Each item must be {ITEM_MAX} characters or fewer")
        ],
    )
    item2_restricted = BooleanField(
        "Restrict this item to MASH managers", widget=GovCheckboxInput()
    )
    item3_kind = RadioField(
        "Third item is",
        widget=GovRadioInput(),
        choices={"fact": "Fact", "opinion": "Opinion"},
        default="fact",
        validators=[Optional()],
    )
    item3_text = TextAreaField(
        "Third item",
        widget=GovTextArea(),
        validators=[
            Length(max=ITEM_MAX, message=f"Each item must be {ITEM_MAX} characters or fewer")
        ],
    )
    item3_restricted = BooleanField(
        "Restrict this item to MASH managers", widget=GovCheckboxInput()
    )
    submit = SubmitField("Send the answer", widget=GovSubmitInput())

    def items(self) -> list[tuple[str, str, bool]]:
        given = []
        for n in range(1, ITEM_SLOTS + 1):
            text = (getattr(self, f"item{n}_text").data or "").strip()
            if text:
                kind = getattr(self, f"item{n}_kind").data or "fact"
                given.append((kind, text, bool(getattr(self, f"item{n}_restricted").data)))
        return given


class CorrectionForm(AnswerForm):
    """The answer form again, filled in with the answer as it stands, and why it changes."""

    reason = TextAreaField(
        "Why are you correcting the answer?",
        widget=GovTextArea(),
        validators=[
            InputRequired(message="Enter why you are correcting the answer"),
            Length(max=REASON_MAX, message=f"The reason must be {REASON_MAX} characters or fewer"),
        ],
    )
    submit = SubmitField("Send the corrected answer", widget=GovSubmitInput())

    def fill_from(self, outcome: str, items: list[tuple[str, str, bool]]) -> None:
        self.outcome.data = outcome
        for n, (kind, text, restricted) in enumerate(items[:ITEM_SLOTS], start=1):
            getattr(self, f"item{n}_kind").data = kind
            getattr(self, f"item{n}_text").data = text
            getattr(self, f"item{n}_restricted").data = restricted
