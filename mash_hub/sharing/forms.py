"""Forms for sending a request and for answering one."""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovCheckboxInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import BooleanField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from mash_hub.agencies import AGENCIES
from mash_hub.policy.programmes import MEASURES
from mash_hub.sharing.services import (
    ITEM_MAX,
    QUESTION_MAX,
    REASON_MAX,
    MeasureInput,
    MeasureView,
    measure_problem,
)

ITEM_SLOTS = 3  # items a researcher can give on the page at once (the API takes more)
_ORDINALS = {1: "first", 2: "second", 3: "third"}

# What to ask for when a measure's value is missing or wrong, in the words of the page.
_ENTER = {
    "school_attendance_percent": "Enter a school attendance percentage",
    "benefit_cap_weekly_loss_pounds": "Enter the income lost to the benefit cap in pounds a week",
}
# A value as people type it: 82, 82.5, 82% or £75 (the sign is dropped, nothing else).
_VALUE = re.compile(r"£?\s*(\d{1,7}(?:\.\d{1,4})?)\s*%?")
MEASURE_CHOICES = {"": "None", **{code: measure.label for code, measure in MEASURES.items()}}
VALUE_HINT = "A number: " + "; ".join(
    f"{measure.label[:1].lower()}{measure.label[1:]}, from {measure.lowest:g} to "
    f"{measure.highest:g}"
    for measure in MEASURES.values()
)


def ask_for_value(code: str) -> str:
    """The error for a missing or wrong value of the measure `code`, in plain English."""
    measure = MEASURES[code]
    enter = _ENTER.get(code, f"Enter {measure.label[:1].lower()}{measure.label[1:]},")
    return f"{enter} from {measure.lowest:g} to {measure.highest:g}"


def parse_value(raw: str | None) -> float | None:
    """The number typed in a value box, or None if it is not one."""
    matched = _VALUE.fullmatch((raw or "").strip())
    return float(matched.group(1)) if matched else None


def _measure_field(n: int) -> SelectField:
    return SelectField(
        f"Measure in item {n} (optional)",
        widget=GovSelect(),
        choices=MEASURE_CHOICES,
        default="",
        validators=[Optional()],
    )


def _value_field(n: int) -> StringField:
    return StringField(f"Value of the measure in item {n}", widget=GovTextInput())


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
    item1_measure = _measure_field(1)
    item1_value = _value_field(1)
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
    item2_measure = _measure_field(2)
    item2_value = _value_field(2)
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
    item3_measure = _measure_field(3)
    item3_value = _value_field(3)
    submit = SubmitField("Send the answer", widget=GovSubmitInput())

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields, then each item's measure: a measure needs a value within its range
        and an item to belong to, and a value needs its measure."""
        valid = super().validate(extra_validators)
        for n in range(1, ITEM_SLOTS + 1):
            text = getattr(self, f"item{n}_text")
            measure = getattr(self, f"item{n}_measure")
            value = getattr(self, f"item{n}_value")
            code = measure.data or ""
            typed = (value.data or "").strip()
            if not code and not typed:
                continue
            if not code:
                measure.errors = [
                    *measure.errors,
                    f"Choose the measure of the {_ORDINALS[n]} item's value, or clear the value",
                ]
            elif code not in MEASURES:  # pragma: no cover - the select offers only these
                measure.errors = [*measure.errors, "Choose a measure from the list"]
            else:
                number = parse_value(typed)
                if number is None or measure_problem(code, number) is not None:
                    value.errors = [*value.errors, ask_for_value(code)]
            if not (text.data or "").strip():
                text.errors = [
                    *text.errors,
                    f"Enter the {_ORDINALS[n]} item, or remove its measure",
                ]
            valid = valid and not (measure.errors or value.errors or text.errors)
        return valid

    def items(self) -> list[tuple[str, str, bool, MeasureInput | None]]:
        given = []
        for n in range(1, ITEM_SLOTS + 1):
            text = (getattr(self, f"item{n}_text").data or "").strip()
            if text:
                kind = getattr(self, f"item{n}_kind").data or "fact"
                restricted = bool(getattr(self, f"item{n}_restricted").data)
                code = getattr(self, f"item{n}_measure").data or ""
                number = parse_value(getattr(self, f"item{n}_value").data)
                measure = MeasureInput(code, number) if code and number is not None else None
                given.append((kind, text, restricted, measure))
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

    def fill_from(
        self, outcome: str, items: list[tuple[str, str, bool, MeasureView | None]]
    ) -> None:
        self.outcome.data = outcome
        for n, (kind, text, restricted, measure) in enumerate(items[:ITEM_SLOTS], start=1):
            getattr(self, f"item{n}_kind").data = kind
            getattr(self, f"item{n}_text").data = text
            getattr(self, f"item{n}_restricted").data = restricted
            if measure is not None:
                getattr(self, f"item{n}_measure").data = measure.code
                getattr(self, f"item{n}_value").data = measure.value_text
