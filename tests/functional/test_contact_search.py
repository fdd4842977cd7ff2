"""Find any contact (#13 item 1, usability review D2): MASH staff search by reference, or
by a child's NHS number, name and date of birth, or address through the keyed index,
open or closed; the search is decided and audited (screening:read, each result as
contact:history) without what was typed; partners and leads have no search."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import Contact
from mash_hub.db import Database
from tests.functional.test_contacts_api import CONTACT, token
from tests.helpers import csrf_token, sign_in


def _db(app) -> Database:
    return app.extensions["mash.db"]


@pytest.fixture
def two_contacts(app, client, clock, make_client):
    """Sam Smith's contact now (open) and one from last month (closed), and another
    child's contact that must never come up."""
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE)
    earlier = copy.deepcopy(CONTACT)
    earlier["received_at"] = "2026-10-30T09:15:00Z"
    old = client.post("/api/v1/contacts", json=earlier, headers=police).json
    new = client.post("/api/v1/contacts", json=CONTACT, headers=police).json
    other = copy.deepcopy(CONTACT)
    other["subjects"] = [
        {"role": "child", "given_name": "Ali", "family_name": "Khan", "date_of_birth": "2014-01-01",
         "address": "9 Low Rd, Leeds", "nhs_number": "401 023 2137"}
    ]  # fmt: skip
    unrelated = client.post("/api/v1/contacts", json=other, headers=police).json
    with _db(app).transaction() as session:
        session.execute(
            update(Contact)
            .where(Contact.id == uuid.UUID(old["id"]))
            .values(status="closed", closed_at=clock.now() - timedelta(days=20))
        )
    return old, new, unrelated


def searcher(app, make_account, clock, role=Role.SCREENER, agency="csc"):
    browser = app.test_client()
    sign_in(browser, make_account(role, agency), clock)
    return browser


def search(browser, **typed):
    page = browser.get("/contacts/search")
    assert page.status_code == 200
    return browser.post("/contacts/search", data={**typed, "csrf_token": csrf_token(page.text)})


@pytest.mark.parametrize(
    "typed",
    [
        {"nhs_number": "9434765919"},
        {"given_name": "SAM", "family_name": "smith", "date_of_birth": "02/04/2015"},
        {"address": "1 High Street, Brent"},
    ],
)
def test_each_kind_finds_the_open_and_the_closed_contact(
    app, clock, make_account, two_contacts, typed
):
    old, new, unrelated = two_contacts
    found = search(searcher(app, make_account, clock), **typed)
    assert found.status_code == 200
    table = found.text.split('id="found"')[1]
    assert new["reference"] in table and old["reference"] in table
    assert unrelated["reference"] not in table
    assert "Closed" in table and table.index(new["reference"]) < table.index(old["reference"])
    # The closed one opens read only.
    opened = searcher(app, make_account, clock).get(f"/contacts/{old['id']}")
    assert "You can read it but not change it" in opened.text


def test_by_reference_as_typed_and_nothing_found(app, clock, make_account, two_contacts):
    old, _new, _unrelated = two_contacts
    browser = searcher(app, make_account, clock, Role.MASH_MANAGER, "police")
    found = search(browser, reference=f" {old['reference'].lower()} ")
    assert old["reference"] in found.text.split('id="found"')[1]
    nothing = search(browser, reference="MASH-2026-999999")
    assert 'id="none-found"' in nothing.text


def test_bad_input_gets_the_error_summary(app, clock, make_account):
    browser = searcher(app, make_account, clock)
    for typed, message in (
        ({}, "Enter a contact reference, an NHS number"),
        ({"reference": "MASH-1", "nhs_number": "9434765919"}, "Search by one of these at a time"),
        ({"reference": "12345"}, "Enter the contact reference, like MASH-2026-000123"),
        ({"nhs_number": "9434765910"}, "Enter a real NHS number"),
        ({"given_name": "Sam", "family_name": "Smith"}, "Enter the date of birth"),
        ({"address": "High Street"}, "Enter the house number"),
    ):
        page = search(browser, **typed)
        assert page.status_code == 200
        assert "govuk-error-summary" in page.text and message in page.text, typed


def test_searches_are_audited_without_what_was_typed_and_partners_have_none(
    app, clock, make_account, two_contacts
):
    browser = searcher(app, make_account, clock)
    search(browser, nhs_number="943 476 5919")
    search(browser, given_name="Sam", family_name="Smith", date_of_birth="02/04/2015")
    with _db(app).transaction() as session:
        events = list(session.scalars(select(AuditEvent)))
    actions = [e.action for e in events]
    assert actions.count("screening:read") >= 2 and "contact:history" in actions
    for event in events:
        text = " ".join(str(v) for v in (event.object_id, event.reason, event.contact_id))
        assert "9434765919" not in text and "943 476 5919" not in text
        assert "2015-04-02" not in text and "Smith" not in text
    for role, agency in ((Role.AGENCY_RESEARCHER, "health"), (Role.GOVERNANCE_LEAD, "csc")):
        assert (
            searcher(app, make_account, clock, role, agency).get("/contacts/search").status_code
            == 403
        )
