"""Sign-in forms. Every field has a maximum length, so overlong input is a field error."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovSubmitInput, GovTextInput
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Regexp

# No spaces and no control characters (PostgreSQL refuses NUL in text).
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$"


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _digits_only(value: str | None) -> str | None:
    return "".join(value.split()) if isinstance(value, str) else value


class SignInForm(FlaskForm):
    email = StringField(
        "Email address",
        widget=GovTextInput(),
        filters=[_strip],
        validators=[
            InputRequired(message="Enter your email address"),
            Length(max=254, message="Email address must be 254 characters or fewer"),
            Regexp(EMAIL_PATTERN, message="Enter an email address like name@example.org"),
        ],
    )
    password = PasswordField(
        "Password",
        widget=GovPasswordInput(),
        validators=[
            InputRequired(message="Enter your password"),
            Length(max=128, message="Password must be 128 characters or fewer"),
        ],
    )
    submit = SubmitField("Continue", widget=GovSubmitInput())


class SecurityCodeForm(FlaskForm):
    code = StringField(
        "Security code",
        widget=GovTextInput(),
        filters=[_digits_only],
        validators=[
            InputRequired(message="Enter the 6-digit security code from your authenticator app"),
            Length(max=6, message="The security code is 6 digits"),
            Regexp(r"^\d{6}$", message="The security code is 6 digits"),
        ],
    )
    submit = SubmitField("Continue", widget=GovSubmitInput())


class SignOutForm(FlaskForm):
    """CSRF only: signing out is a POST."""
