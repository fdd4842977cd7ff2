"""Every kind of referrer (issue #16 item 1; usability review m21): an agency of the hub,
another professional with their organisation, a member of the public, a family member,
anonymous. Page and API take the same shapes; contact details are sealed."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from mash_hub.authz.permissions import Scope
from mash_hub.contacts.models import Contact
from mash_hub.db import Database
from tests.functional.screening.test_intake_page import GOOD, counts
from tests.functional.test_contacts_api import CONTACT, token

PHONE = "020 7946 0321"
EMAIL = "caller-canary@example.com"

REFERRERS = {
    "agency": ({"type": "agency", "agency": "yos"}, "Contact from Youth offending service"),
    "professional": (
        {"type": "professional", "profession": "gp", "organisation": "Northwick Surgery"},
        "Contact from GP: Northwick Surgery",
    ),
    "public": ({"type": "public"}, "Contact from a member of the public"),
    "family": ({"type": "family"}, "Contact from a family member"),
    "anonymous": ({"type": "anonymous"}, "Contact from an anonymous referrer"),
}


@pytest.fixture
def police(client, make_client):
    return token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)


def _body(source: dict) -> dict:
    body = copy.deepcopy(CONTACT)
    named = {} if source["type"] == "anonymous" else {"referrer_name": "Pat Caller"}
    body["source"] = {**source, **named, "phone": PHONE, "email": EMAIL}
    return body


@pytest.mark.parametrize("kind", list(REFERRERS))
def test_each_referrer_round_trips_through_the_api(app, client, police, screener, kind):
    source, caption = REFERRERS[kind]
    created = client.post("/api/v1/contacts", json=_body(source), headers=police)
    assert created.status_code == 201, created.json
    shown = client.get(f"/api/v1/contacts/{created.json['id']}", headers=police).json["source"]
    assert shown["type"] == kind
    assert shown["agency"] == ("yos" if kind == "agency" else None)
    assert shown["referrer_name"] == (None if kind == "anonymous" else "Pat Caller")
    assert shown["phone"] == PHONE and shown["email"] == EMAIL
    if kind == "professional":
        assert (shown["profession"], shown["organisation"]) == ("gp", "Northwick Surgery")
    page = screener.get(f"/contacts/{created.json['id']}").text
    assert caption in page
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        contact = session.scalar(select(Contact))
        assert contact.referrer_type == kind
        # Sealed: the caller's details are not in the row in clear.
        assert EMAIL.encode() not in contact.referrer_sealed
        # Outside the hub's agencies the contact is sealed for the agency recording it.
        assert contact.source_agency.code == ("yos" if kind == "agency" else "police")


@pytest.mark.parametrize(
    ("source", "field", "message"),
    [
        (
            {"type": "professional", "referrer_name": "Dr Lee"},
            "source.profession",
            "must be one of",
        ),
        (
            {"type": "professional", "profession": "gp", "referrer_name": "Dr Lee"},
            "source.organisation",
            "is required",
        ),
        ({"type": "anonymous", "referrer_name": "Pat"}, "source.referrer_name", "left out"),
        ({"type": "public"}, "source.referrer_name", "is required"),
        (
            {"type": "public", "agency": "police", "referrer_name": "Pat"},
            "source.agency",
            "left out",
        ),
        ({"type": "neighbour", "referrer_name": "Pat"}, "source.type", "must be one of"),
        (
            {"type": "family", "referrer_name": "Pat", "email": "not-an-email"},
            "source.email",
            "email",
        ),
        (
            {"type": "family", "referrer_name": "Pat", "phone": "call me"},
            "source.phone",
            "telephone",
        ),
    ],
)
def test_a_referrer_that_does_not_fit_its_kind_is_refused(client, police, source, field, message):
    body = copy.deepcopy(CONTACT)
    body["source"] = source
    refused = client.post("/api/v1/contacts", json=body, headers=police)
    assert refused.status_code == 422
    assert message in refused.json["fields"][field]


def test_the_contracts_first_shape_is_still_an_agency(client, police):
    assert "type" not in CONTACT["source"]
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police)
    assert created.status_code == 201


@pytest.mark.parametrize("kind", list(REFERRERS))
def test_each_referrer_round_trips_through_the_page(app, screener, kind):
    source, caption = REFERRERS[kind]
    form = {
        **GOOD,
        "referrer_type": kind,
        "source_agency": source.get("agency", ""),
        "referrer_profession": source.get("profession", ""),
        "referrer_organisation": source.get("organisation", ""),
        "referrer_name": "" if kind == "anonymous" else "Pat Caller",
        "referrer_phone": PHONE,
        "referrer_email": EMAIL,
    }
    saved = screener.post_form("/contacts/new", form)
    assert saved.status_code == 302, saved.text
    page = screener.get(saved.headers["Location"]).text
    assert caption in page
    assert PHONE in page and EMAIL in page
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        assert session.scalar(select(Contact.referrer_type)) == kind


def test_the_page_asks_for_what_each_kind_of_referrer_needs(app, screener):
    professional = screener.post_form(
        "/contacts/new", {**GOOD, "referrer_type": "professional", "source_agency": ""}
    )
    assert "Select the referrer&#39;s profession" in professional.text
    assert "Enter the referrer&#39;s organisation" in professional.text
    anonymous = screener.post_form("/contacts/new", {**GOOD, "referrer_type": "anonymous"})
    assert "Remove the referrer&#39;s name, or choose who made the contact" in anonymous.text
    nobody = screener.post_form("/contacts/new", {**GOOD, "referrer_type": ""})
    assert "Select who made the contact" in nobody.text
    assert counts(app) == (0, 0)
