"""Who accessed this child (#13 item 8, usability review D9): a governance lead starts
from the child's NHS number, or name and date of birth, found through keyed hashes; the
page opens with a summary by agency and by person before the events; a partner's lead
finds only a child whose contacts are in their own trail; the look-up is decided
(`audit:find_child`, ISA-MASH-CORE 8.8) and audited without what was typed. The lead's own
searches no longer crowd the general audit search unless asked for."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.sharing.models import InfoRequest
from tests.functional.test_requests import ask, rated_contact, researcher, screening
from tests.helpers import csrf_token, sign_in


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def _db(app) -> Database:
    return app.extensions["mash.db"]


def rows(app, query):
    with _db(app).transaction() as session:
        return list(session.scalars(query))


@pytest.fixture
def child_with_history(app, client, clock, police, make_client):
    """Sam Smith (NHS 943 476 5919, born 2 April 2015) on an Amber contact; Health asked
    and its researcher reads the request over the API."""
    contact_id = rated_contact(client, police)
    assert ask(client, police, contact_id, "health").status_code == 201
    health = researcher(client, make_client, "health")
    request_id = rows(app, select(InfoRequest.id))[0]
    assert client.get(f"/api/v1/requests/{request_id}", headers=health).status_code == 200
    return contact_id


def lead_client(app, make_account, clock, agency):
    lead = app.test_client()
    sign_in(lead, make_account(Role.GOVERNANCE_LEAD, agency), clock)
    return lead


def look_up(lead, **typed):
    page = lead.get("/governance/children")
    assert page.status_code == 200
    return lead.post("/governance/children", data={**typed, "csrf_token": csrf_token(page.text)})


def test_a_core_lead_finds_the_child_by_nhs_number_and_reads_the_summary(
    app, clock, make_account, child_with_history
):
    lead = lead_client(app, make_account, clock, "csc")
    found = look_up(lead, nhs_number="943 476 5919")
    assert found.status_code == 200
    text = found.text
    assert "1 contact in your agency&#39;s audit trail names this child" in text or (
        "1 contact in your agency's audit trail names this child" in text
    )
    by_agency = text[text.index('id="by-agency"') : text.index('id="by-person"')]
    assert "Health" in by_agency and "Police (Public Protection Desk)" in by_agency
    by_person = text[text.index('id="by-person"') : text.index("<h2", text.index('id="by-person"'))]
    assert "client health-" in by_person and "client police-" in by_person
    assert 'class="govuk-table hub-audit-table"' in text  # then the events
    # By name and date of birth too, spelt as the contact gave them or not.
    by_name = look_up(lead, given_name="sam", family_name="SMITH", date_of_birth="02/04/2015")
    assert "names this child" in by_name.text
    # Decided and audited, under a keyed hash: never the number or name typed.
    finds = rows(
        app,
        select(AuditEvent).where(AuditEvent.action == "audit:find_child"),
    )
    assert [e.decision for e in finds] == ["allow", "allow"]
    assert all(e.object_id.startswith("child:") for e in finds)
    every = rows(app, select(AuditEvent))
    for event in every:
        blob = " ".join(str(v) for v in (event.object_id, event.reason, event.contact_id))
        assert "9434765919" not in blob and "943 476 5919" not in blob
        assert "sam" not in blob.lower().split("|")


def test_a_partner_lead_finds_no_child_by_identifier(app, clock, make_account, child_with_history):
    """Partners hold no index of the MASH's people (on PostgreSQL row-level security
    keeps it from them): their leads find a child's contacts by reference, and a look-up
    by identifier is refused, audited, as for a child the hub does not hold."""
    health = lead_client(app, make_account, clock, "health")
    page = health.get("/governance/children")
    assert 'id="core-only"' in page.text
    refused = look_up(health, nhs_number="9434765919")
    assert refused.status_code == 200
    assert "No contact in your agency" in refused.text
    unknown = look_up(health, nhs_number="401 023 2137")
    assert "No contact in your agency" in unknown.text
    decisions = rows(
        app,
        select(AuditEvent.decision).where(
            AuditEvent.action == "audit:find_child", AuditEvent.agency == "health"
        ),
    )
    assert decisions == ["deny", "deny"]


def test_bad_input_gets_the_error_summary(app, clock, make_account):
    lead = lead_client(app, make_account, clock, "police")
    cases = [
        ({}, "Enter the child&#39;s NHS number, or their name and date of birth"),
        ({"nhs_number": "943 476 5910"}, "Enter a real NHS number"),
        ({"nhs_number": "9434765919", "given_name": "Sam"}, "not both"),
        ({"given_name": "Sam", "family_name": "Smith"}, "Enter the child&#39;s date of birth"),
        (
            {"given_name": "Sam", "family_name": "Smith", "date_of_birth": "31/02/2015"},
            "Enter a real date of birth",
        ),
    ]
    for typed, message in cases:
        page = look_up(lead, **typed)
        assert page.status_code == 200
        assert "govuk-error-summary" in page.text, typed
        assert message in page.text or message.replace("&#39;", "'") in page.text, typed


def test_the_leads_own_searches_are_left_out_unless_asked_for(
    app, clock, make_account, child_with_history
):
    lead = lead_client(app, make_account, clock, "csc")
    for _ in range(3):
        lead.get("/governance/audit")
    page = lead.get("/governance/audit").text
    assert "Your own searches of the audit are left out" in page
    assert "audit:read" not in page.split('id="own-searches"')[1]
    included = lead.get("/governance/audit?own=1").text
    assert "Your own searches of the audit are included" in included
    assert included.count("audit:read") >= 4
    # Searching by action shows them, as asked.
    assert "audit:read" in lead.get("/governance/audit?action=audit:read").text
