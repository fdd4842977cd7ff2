"""The screening team's forms. Intake fields are checked by the same reader as the API
(`contacts.schemas.read_contact`), so a page and an agency system get the same rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovCheckboxesInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length

from mash_hub.agencies import AGENCIES
from mash_hub.contacts.equality import DISABILITY_LABELS, ETHNICITY_LABELS, SEX_LABELS
from mash_hub.contacts.referrers import PROFESSION_LABELS, REFERRER_LABELS
from mash_hub.contacts.schemas import MAX_SUBJECTS
from mash_hub.presenting_issues import PRESENTING_ISSUES
from mash_hub.screening.services import METHOD_LABELS, OUTCOME_LABELS

ROLE_CHOICES = {
    "": "Choose a role",
    "child": "Child",
    "parent": "Parent",
    "carer": "Carer",
    "sibling": "Sibling",
    "household_member": "Household member",
    "alleged_perpetrator": "Alleged perpetrator",
}
CONSENT_CHOICES = {
    "given": "Given",
    "refused": "Refused",
    "not_sought": "Not sought",
}


class SubjectForm(Form):
    role = SelectField("Role", widget=GovSelect(), choices=ROLE_CHOICES)
    given_name = StringField("Given name", widget=GovTextInput())
    family_name = StringField("Family name", widget=GovTextInput())
    date_of_birth = StringField("Date of birth (optional)", widget=GovTextInput())
    # The page asks for it as GOV.UK's three-field date input (review m25); the three are
    # read into `date_of_birth` (day/month/year), which a form may also post whole.
    dob_day = StringField("Day")
    dob_month = StringField("Month")
    dob_year = StringField("Year")
    address = StringField("Address (optional)", widget=GovTextInput())
    nhs_number = StringField("NHS number (optional)", widget=GovTextInput())
    upn = StringField("Unique pupil number (optional)", widget=GovTextInput())
    # Equality information (optional): each question may be left unanswered.
    sex = RadioField("Sex (optional)", widget=GovRadioInput(), choices=SEX_LABELS)
    ethnicity = SelectField(
        "Ethnic group (optional)",
        widget=GovSelect(),
        choices={"": "Not given", **ETHNICITY_LABELS},
    )
    disability = RadioField(
        "Does the person have a disability? (optional)",
        widget=GovRadioInput(),
        choices=DISABILITY_LABELS,
    )
    first_language = StringField("First language (optional)", widget=GovTextInput())


PRESENTING_ISSUE_CHOICES = {issue.code: issue.label for issue in PRESENTING_ISSUES}


class IntakeForm(FlaskForm):
    received_date = StringField("Date received", widget=GovTextInput())
    received_day = StringField("Day")
    received_month = StringField("Month")
    received_year = StringField("Year")
    received_time = StringField("Time received", widget=GovTextInput())
    referrer_type = RadioField(
        "Who made the contact?", widget=GovRadioInput(), choices=REFERRER_LABELS
    )
    source_agency = SelectField(
        "Source agency",
        widget=GovSelect(),
        choices={"": "Choose an agency", **{a.code: a.name for a in AGENCIES}},
    )
    referrer_profession = SelectField(
        "Their profession",
        widget=GovSelect(),
        choices={"": "Choose a profession", **PROFESSION_LABELS},
    )
    referrer_organisation = StringField("Their organisation", widget=GovTextInput())
    referrer_name = StringField(
        "Referrer's name",
        description="Leave this empty for an anonymous contact",
        widget=GovTextInput(),
    )
    referrer_role = StringField("Referrer's role (optional)", widget=GovTextInput())
    referrer_phone = StringField("Referrer's telephone number (optional)", widget=GovTextInput())
    referrer_email = StringField("Referrer's email address (optional)", widget=GovTextInput())
    concern = TextAreaField("The concern", widget=GovCharacterCount())
    presenting_issues = SelectMultipleField(
        "Presenting issues", widget=GovCheckboxesInput(), choices=PRESENTING_ISSUE_CHOICES
    )
    consent_status = RadioField(
        "Consent to share information", widget=GovRadioInput(), choices=CONSENT_CHOICES
    )
    consent_reason = TextAreaField("Why are you going ahead without consent?", widget=GovTextArea())
    subjects = FieldList(FormField(SubjectForm), min_entries=1, max_entries=MAX_SUBJECTS)
    add_subject = SubmitField("Add another person", widget=GovSubmitInput())
    submit = SubmitField("Record the contact", widget=GovSubmitInput())


RAG_CHOICES = {"red": "Red", "amber": "Amber", "green": "Green"}


class RatingForm(FlaskForm):
    rag = RadioField(
        "Rating",
        widget=GovRadioInput(),
        choices=RAG_CHOICES,
        validators=[InputRequired(message="Choose Red, Amber or Green")],
    )
    rationale = TextAreaField(
        "Why this rating?",
        widget=GovCharacterCount(),
        validators=[
            InputRequired(message="Give the reason for this rating"),
            Length(max=5000, message="The reason must be 5000 characters or fewer"),
        ],
    )
    # How many ratings the screener saw: a different count on submit means someone else
    # rated in between, and they are shown that rating before theirs is taken.
    seen_ratings = HiddenField()
    submit = SubmitField("Save the rating", widget=GovSubmitInput())


class ClaimForm(FlaskForm):
    submit = SubmitField("Take this contact", widget=GovSubmitInput())


OUTCOME_CHOICES = OUTCOME_LABELS


class ProposalForm(FlaskForm):
    outcome = RadioField(
        "Outcome",
        widget=GovRadioInput(),
        choices=OUTCOME_CHOICES,
        validators=[InputRequired(message="Choose an outcome")],
    )
    rationale = TextAreaField(
        "Rationale",
        widget=GovCharacterCount(),
        validators=[
            InputRequired(message="Give the rationale for this outcome"),
            Length(max=5000, message="The rationale must be 5000 characters or fewer"),
        ],
    )
    submit = SubmitField("Send for approval", widget=GovSubmitInput())


class ReviewForm(FlaskForm):
    decision_id = HiddenField()
    verdict = RadioField(
        "Do you approve this decision?",
        widget=GovRadioInput(),
        choices={"approved": "Approve", "returned": "Return it to the screener"},
        validators=[InputRequired(message="Choose whether to approve or return the decision")],
    )
    reason = TextAreaField(
        "Reason for returning it",
        widget=GovTextArea(),
        validators=[Length(max=2000, message="The reason must be 2000 characters or fewer")],
    )
    # Shown only when the proposed outcome is referred on to a receiving service.
    referral_reason = TextAreaField(
        "Reason for the referral",
        widget=GovTextArea(),
        validators=[
            Length(max=2000, message="The reason for the referral must be 2000 characters or fewer")
        ],
    )
    submit = SubmitField("Record the sign-off", widget=GovSubmitInput())


METHOD_CHOICES = METHOD_LABELS


class AcknowledgementForm(FlaskForm):
    method = RadioField(
        "How was the referrer told?",
        widget=GovRadioInput(),
        choices=METHOD_CHOICES,
        validators=[InputRequired(message="Choose how the referrer was told")],
    )
    told_date = StringField("Date told", widget=GovTextInput())
    told_time = StringField("Time told", widget=GovTextInput())
    submit = SubmitField("Record that the referrer was told", widget=GovSubmitInput())


# -- amending a contact during screening -------------------------------------------------

# Roles a person found by checks may have on the contact (those intake uses).
ADDED_ROLE_CHOICES = ROLE_CHOICES


class _PersonDetails(FlaskForm):
    """A person's details, checked by the same reader as intake's people."""

    given_name = StringField("Given name", widget=GovTextInput())
    family_name = StringField("Family name", widget=GovTextInput())
    date_of_birth = StringField("Date of birth (optional)", widget=GovTextInput())
    address = StringField("Address (optional)", widget=GovTextInput())
    nhs_number = StringField("NHS number (optional)", widget=GovTextInput())
    upn = StringField("Unique pupil number (optional)", widget=GovTextInput())
    # How many amendments the screener saw: a different count on submit means someone else
    # amended the contact in between, and theirs is shown before this one is taken.
    seen = HiddenField()


class CorrectionForm(_PersonDetails):
    reason = TextAreaField("Why are you correcting these details?", widget=GovCharacterCount())
    submit = SubmitField("Save the correction", widget=GovSubmitInput())


class AddPersonForm(_PersonDetails):
    role = SelectField("Role", widget=GovSelect(), choices=ADDED_ROLE_CHOICES)
    reason = TextAreaField(
        "How was this person found, and why add them?", widget=GovCharacterCount()
    )
    submit = SubmitField("Add the person", widget=GovSubmitInput())


class NoteForm(FlaskForm):
    note = TextAreaField("Case note", widget=GovCharacterCount())
    submit = SubmitField("Add the case note", widget=GovSubmitInput())


def joined_date(day: str | None, month: str | None, year: str | None) -> str | None:
    """A GOV.UK date input's three fields as one day/month/year text; None if all blank
    (then a whole date posted in the one field stands)."""
    parts = [(part or "").strip() for part in (day, month, year)]
    if not any(parts):
        return None
    return "/".join(parts)


def fold_dates(form: IntakeForm) -> None:
    """Read the page's three-field dates into the fields the intake reads."""
    received = joined_date(
        form.received_day.data, form.received_month.data, form.received_year.data
    )
    if received is not None:
        form.received_date.data = received
    for entry in form.subjects.entries:
        sub = entry.form
        born = joined_date(sub.dob_day.data, sub.dob_month.data, sub.dob_year.data)
        if born is not None:
            sub.date_of_birth.data = born
