"""The criteria page's one form: record the check as it stands."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput
from wtforms import SubmitField


class RecordForm(FlaskForm):
    submit = SubmitField("Record this check", widget=GovSubmitInput())
