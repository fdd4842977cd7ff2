"""The receiving service's form: accept or decline a referral."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextArea
from wtforms import RadioField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from mash_hub.referrals.services import REASON_MAX


class DecisionForm(FlaskForm):
    decision = RadioField(
        "Do you accept this referral?",
        widget=GovRadioInput(),
        choices={"accepted": "Accept it", "declined": "Decline it"},
        validators=[InputRequired(message="Choose whether to accept or decline the referral")],
    )
    reason = TextAreaField(
        "Reason",
        widget=GovTextArea(),
        validators=[
            Length(max=REASON_MAX, message=f"The reason must be {REASON_MAX} characters or fewer")
        ],
    )
    submit = SubmitField("Record the decision", widget=GovSubmitInput())
