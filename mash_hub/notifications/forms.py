"""The form for choosing which messages also come by email. Which kinds a person may
choose, and what an unknown one means, is the service's to say."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCheckboxesInput, GovSubmitInput
from wtforms import SelectMultipleField, SubmitField


class EmailChoicesForm(FlaskForm):
    kinds = SelectMultipleField(
        "Which messages do you want by email as well?",
        widget=GovCheckboxesInput(),
        choices=[],
        # An unknown kind is refused by the service, with nothing saved.
        validate_choice=False,
    )
    submit = SubmitField("Save your choices", widget=GovSubmitInput())
