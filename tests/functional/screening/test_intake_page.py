"""Recording a contact on the intake page: the API's rules, GOV.UK errors, nothing half-saved."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import Contact, ContactSubject
from mash_hub.db import Database

GOOD = {
    "received_date": "30/11/2026",
    "received_time": "09:15",
    "referrer_type": "agency",
    "source_agency": "police",
    "referrer_name": "PC Ada Jones",
    "referrer_role": "PPD officer",
    "concern": "Neighbour reports shouting and a child crying late at night.",
    "presenting_issues": ["domestic_abuse", "neglect"],
    "consent_status": "not_sought",
    "consent_reason": "Child at risk of significant harm",
    "subjects-0-role": "child",
    "subjects-0-given_name": "Sam",
    "subjects-0-family_name": "Smith",
    "subjects-0-date_of_birth": "02/04/2015",
    "subjects-0-address": "1 High St, Brent",
    "subjects-0-nhs_number": "943 476 5919",
    "subjects-0-upn": "",
}


def counts(app) -> tuple[int, int]:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(Contact)) or 0,
            session.scalar(select(func.count()).select_from(ContactSubject)) or 0,
        )


def test_a_screener_records_a_contact_and_lands_on_it(app, screener):
    response = screener.post_form("/contacts/new", GOOD)
    assert response.status_code == 302, response.text
    page = screener.get(response.headers["Location"])
    assert page.status_code == 200
    assert "MASH-2026-000001" in page.text
    assert "Neighbour reports shouting" in page.text
    assert "Sam Smith" in page.text and "943 476 5919" in page.text
    assert counts(app) == (1, 1)
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        contact = session.scalar(select(Contact))
        assert contact.received_at.isoformat() == "2026-11-30T09:15:00+00:00"
        assert contact.source_agency.code == "police"


def test_add_another_person_keeps_what_was_typed(app, screener):
    response = screener.post_form("/contacts/new", {**GOOD, "add_subject": "Add another person"})
    assert response.status_code == 200
    assert 'id="subjects-1-given_name"' in response.text
    assert 'value="PC Ada Jones"' in response.text
    assert "There is a problem" not in response.text
    assert counts(app) == (0, 0)
    both = {
        **GOOD,
        "subjects-1-role": "parent",
        "subjects-1-given_name": "Jo",
        "subjects-1-family_name": "Smith",
    }
    assert screener.post_form("/contacts/new", both).status_code == 302
    assert counts(app) == (1, 2)


@pytest.mark.parametrize(
    ("change", "field_id", "message"),
    [
        ({"referrer_name": ""}, "referrer_name", "Enter the referrer&#39;s name"),
        ({"received_date": "01/12/2026"}, "received_date", "must be today or in the past"),
        ({"received_date": "31/02/2026"}, "received_date", "Enter a real date and time"),
        # Usability review D8: 01/01/1900 became MASH-1900-000001, overdue for 46,358 days.
        ({"received_date": "01/01/1900"}, "received_date", "on or after 1 January 2025"),
        ({"received_date": "30/11/2016"}, "received_date", "when the hub started taking"),
        ({"subjects-0-date_of_birth": "01/01/1850"}, "subjects-0-date_of_birth", "check the year"),
        ({"subjects-0-nhs_number": "943 476 5918"}, "subjects-0-nhs_number", "10-digit NHS number"),
        ({"subjects-0-date_of_birth": "01/01/2030"}, "subjects-0-date_of_birth", "or in the past"),
        ({"subjects-0-given_name": "x" * 100_000}, "subjects-0-given_name", "100 characters"),
        ({"consent_reason": ""}, "consent_reason", "Enter why you are going ahead"),
        ({"subjects-0-role": "parent"}, "subjects-0-role", "at least one child"),
        ({"subjects-0-upn": "A12345678901"}, "subjects-0-upn", "unique pupil number"),
        ({"concern": ""}, "concern", "Enter the concern"),
    ],
)
def test_bad_input_gets_field_errors_and_saves_nothing(app, screener, change, field_id, message):
    response = screener.post_form("/contacts/new", {**GOOD, **change})
    assert response.status_code == 200
    assert "There is a problem" in response.text  # the GOV.UK error summary
    assert f'href="#{field_id}"' in response.text
    assert message in response.text
    assert 'class="govuk-error-message"' in response.text
    assert counts(app) == (0, 0)


def test_an_empty_form_is_told_what_to_enter_in_plain_english(app, screener):
    """Usability review m1: the page named the API's codes ("must be one of: csc, police,
    health...", "child, parent, carer...")."""
    empty = dict.fromkeys(GOOD, "")
    response = screener.post_form("/contacts/new", empty)
    assert response.status_code == 200
    for message in (
        "Enter the date the contact was received",
        "Select who made the contact",
        "Enter the referrer&#39;s name",
        "Enter the concern",
        "Select whether the family consented to information being shared",
        "Select the person&#39;s role",
        "Enter the person&#39;s given name",
    ):
        assert message in response.text
    assert "must be one of" not in response.text
    assert "is required" not in response.text
    summary = response.text.split('class="govuk-error-summary')[1].split("</div>")[0]
    assert "not_sought" not in summary
    assert counts(app) == (0, 0)


def test_consent_given_needs_no_reason(app, screener):
    response = screener.post_form(
        "/contacts/new", {**GOOD, "consent_status": "given", "consent_reason": ""}
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("role", "agency"),
    [(Role.AGENCY_RESEARCHER, "health"), (Role.GOVERNANCE_LEAD, "csc"), (Role.ADMIN, "csc")],
)
def test_people_outside_screening_cannot_open_intake(person, role, agency):
    assert person(role, agency).get("/contacts/new").status_code == 403


def test_a_partner_screener_gets_nothing_saved(app, person):
    partner = person(Role.SCREENER, "health")
    response = partner.post_form("/contacts/new", GOOD)
    assert response.status_code == 403
    assert counts(app) == (0, 0)


def test_a_summer_contact_is_shown_at_the_uk_time_it_was_typed(app, screener):
    """Usability review D4: received 15/07/2026 10:00 showed "09:00 UTC" on every page."""
    saved = screener.post_form(
        "/contacts/new", {**GOOD, "received_date": "15/07/2026", "received_time": "10:00"}
    )
    assert saved.status_code == 302, saved.text
    page = screener.get(saved.headers["Location"]).text
    assert "15 July 2026 at 10:00am" in page
    assert "UTC" not in page and "09:00" not in page
    queue = screener.get("/queue").text
    assert "15 July 2026 at 10:00am" in queue
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:  # kept in UTC
        received = session.scalar(select(Contact.received_at))
        assert received.isoformat() == "2026-07-15T09:00:00+00:00"


def test_dates_are_typed_in_govuk_date_inputs(app, screener):
    """Usability review m25: the dates are GOV.UK's three-field date input; a part left
    out is named in the error summary and nothing is recorded."""
    page = screener.get("/contacts/new").text
    for name in ("received_day", "received_month", "received_year", "subjects-0-dob_day"):
        assert f'name="{name}"' in page
    three = {
        **{k: v for k, v in GOOD.items() if k not in ("received_date", "subjects-0-date_of_birth")},
        "received_day": "30",
        "received_month": "11",
        "received_year": "2026",
        "subjects-0-dob_day": "2",
        "subjects-0-dob_month": "4",
        "subjects-0-dob_year": "2015",
    }
    missing = screener.post_form("/contacts/new", {**three, "received_month": ""})
    assert missing.status_code == 200
    assert "govuk-error-summary" in missing.text and 'href="#received_date"' in missing.text
    assert counts(app) == (0, 0)
    recorded = screener.post_form("/contacts/new", three)
    assert recorded.status_code == 302
    shown = screener.get(recorded.headers["Location"]).text
    assert "30 November 2026" in shown and "2 April 2015" in shown
