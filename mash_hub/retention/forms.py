"""Forms of the retention review: deleting (with a fresh security code), legal holds."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCharacterCount, GovSubmitInput
from wtforms import SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from mash_hub.identity.forms import SecurityCodeForm
from mash_hub.retention.services import REASON_MAX

_NO_NAMES = "Do not name the child or family: the reason is kept in clear."


def _reason(label: str, missing: str) -> TextAreaField:
    return TextAreaField(
        label,
        widget=GovCharacterCount(),
        description=_NO_NAMES,
        validators=[
            InputRequired(message=missing),
            Length(max=REASON_MAX, message=f"The reason must be {REASON_MAX} characters or fewer"),
        ],
    )


class DeleteForm(SecurityCodeForm):
    reason = _reason("Why can this contact be deleted?", "Enter why the contact can be deleted")
    submit = SubmitField("Delete the contact", widget=GovSubmitInput())


class HoldForm(FlaskForm):
    reason = _reason("Why must the records be kept?", "Enter why the records must be kept")
    submit = SubmitField("Place the legal hold", widget=GovSubmitInput())


class LiftForm(FlaskForm):
    """CSRF only: lifting a hold is a POST."""

    submit = SubmitField("Lift the hold", widget=GovSubmitInput())
