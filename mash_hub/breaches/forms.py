"""Forms of the breach log. Checks that need the breach or the clock (times against its
discovery, parties against the agreements) are the service's."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import RadioField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired

from mash_hub.breaches.services import AGENCY_NAMES, RECORD_TYPES, SUBJECT_KINDS

NO_NAMES = "Do not name the people concerned: link audit events or give record references."


class RecordForm(FlaskForm):
    what_happened = TextAreaField("What happened?", widget=GovTextArea())
    how_discovered = TextAreaField("How was it discovered, and by whom?", widget=GovTextArea())
    discovered_date = StringField("Date discovered", widget=GovTextInput())
    discovered_time = StringField("Time discovered", widget=GovTextInput())
    occurred_date = StringField("Date it happened (optional)", widget=GovTextInput())
    occurred_time = StringField("Time it happened (optional)", widget=GovTextInput())
    agencies = SelectMultipleField(
        "Whose data does it concern?",
        widget=GovCheckboxesInput(),
        choices=dict(AGENCY_NAMES),
        validate_choice=False,
    )
    record_types = SelectMultipleField(
        "Which kinds of record are involved?",
        widget=GovCheckboxesInput(),
        choices=dict(RECORD_TYPES),
        validate_choice=False,
    )
    subject_kinds = SelectMultipleField(
        "Whose personal data is it?",
        widget=GovCheckboxesInput(),
        choices=dict(SUBJECT_KINDS),
        validate_choice=False,
    )
    people_affected = StringField("About how many people? (optional)", widget=GovTextInput())
    records_affected = StringField("About how many records? (optional)", widget=GovTextInput())
    consequences = TextAreaField(
        "What are the likely consequences for them? (optional)", widget=GovTextArea()
    )
    containment = TextAreaField(
        "What has been done to contain it so far? (optional)", widget=GovTextArea()
    )
    submit = SubmitField("Record the breach", widget=GovSubmitInput())


class ContainmentForm(FlaskForm):
    detail = TextAreaField("What was done?", widget=GovTextArea())
    submit = SubmitField("Add the action", widget=GovSubmitInput())


class LinkForm(FlaskForm):
    seqs = StringField("Audit event numbers", widget=GovTextInput())
    detail = StringField("Why are they evidence?", widget=GovTextInput())
    submit = SubmitField("Link the events", widget=GovSubmitInput())


class ToldForm(FlaskForm):
    agencies = SelectMultipleField(
        "Which parties were told?",
        widget=GovCheckboxesInput(),
        choices=[],
        validate_choice=False,
    )
    told_date = StringField("Date told", widget=GovTextInput())
    told_time = StringField("Time told", widget=GovTextInput())
    detail = StringField("How, and who told them?", widget=GovTextInput())
    submit = SubmitField("Record that they were told", widget=GovSubmitInput())


class DecisionForm(FlaskForm):
    outcome = RadioField(
        "Is the breach reportable to the Information Commissioner?",
        widget=GovRadioInput(),
        choices={
            "reportable": "Yes, it is likely to result in a risk to people's rights",
            "not_reportable": "No, it is unlikely to result in a risk to people's rights",
        },
        validators=[InputRequired(message="Select whether the breach is reportable")],
    )
    detail = TextAreaField("Reasons for the decision", widget=GovTextArea())
    submit = SubmitField("Record the decision", widget=GovSubmitInput())


class ReportForm(FlaskForm):
    reported_date = StringField("Date reported", widget=GovTextInput())
    reported_time = StringField("Time reported", widget=GovTextInput())
    ico_reference = StringField("The ICO's reference", widget=GovTextInput())
    late_reason = TextAreaField("If more than 72 hours after discovery, why?", widget=GovTextArea())
    submit = SubmitField("Record the report", widget=GovSubmitInput())
