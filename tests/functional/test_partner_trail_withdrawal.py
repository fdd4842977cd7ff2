"""A MASH screener rating a contact Green withdraws a partner's open request. The
partner's trail gets a content-free marker naming the acting MASH agency and role; the
screener's name, email and id and the MASH's reason stay in the MASH's trail (security
review, V6)."""

from __future__ import annotations

import json

from mash_hub.authz.permissions import Role, Scope
from tests.functional.test_contacts_api import token
from tests.functional.test_governance import signed_in
from tests.functional.test_requests import ask, rated_contact, screening
from tests.helpers import csrf_token


def withdraw_by_rating_green(app, client, make_client, make_account, clock):
    police = screening(client, make_client)
    contact_id = rated_contact(client, police, "amber")
    request_id = ask(client, police, contact_id, "housing").json["id"]
    web, screener = signed_in(app, make_account, clock, Role.SCREENER, "csc")
    path = f"/contacts/{contact_id}/rating"
    page = web.get(path)
    rated = web.post(
        path,
        data={
            "rag": "green",
            "rationale": "Universal services are enough",
            "seen_ratings": "1",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert rated.status_code == 302
    return screener, contact_id, request_id


def test_the_partner_leads_page_shows_the_mash_agency_and_role_only(
    app, client, make_client, make_account, clock
):
    screener, _contact, request_id = withdraw_by_rating_green(
        app, client, make_client, make_account, clock
    )
    lead, _account = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "housing")
    page = lead.get("/governance/audit")
    assert page.status_code == 200
    assert "request:withdraw" in page.text and "request withdrawn" in page.text
    assert "mash:csc" in page.text and "screener" in page.text
    for secret in (screener.email, "Test Screener", str(screener.user_id), "rated green"):
        assert secret not in page.text

    mash_lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    mash_page = mash_lead.get("/governance/audit").text
    assert screener.email in mash_page and "contact rated green" in mash_page


def test_a_partner_audit_client_gets_the_marker_only(app, client, make_client, make_account, clock):
    screener, _contact, request_id = withdraw_by_rating_green(
        app, client, make_client, make_account, clock
    )
    housing = token(client, make_client, "housing", Scope.AUDIT_READ)
    response = client.get("/api/v1/audit/events", headers=housing)
    assert response.status_code == 200
    withdrawn = [e for e in response.json["events"] if e["action"] == "request:withdraw"]
    assert [(e["actor"], e["object_id"], e["reason"]) for e in withdrawn] == [
        ("mash:csc", request_id, "request withdrawn")
    ]
    body = json.dumps(response.json)
    assert str(screener.user_id) not in body and "rated green" not in body


def test_an_agency_system_rating_green_is_shown_as_the_role_it_acts_in(app, client, make_client):
    police = screening(client, make_client)
    contact_id = rated_contact(client, police, "amber")
    request_id = ask(client, police, contact_id, "housing").json["id"]
    green = client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "green", "rationale": "Universal services"},
        headers=police,
    )
    assert green.status_code == 200
    housing = token(client, make_client, "housing", Scope.AUDIT_READ)
    events = client.get("/api/v1/audit/events", headers=housing).json["events"]
    withdrawn = [e for e in events if e["action"] == "request:withdraw"]
    assert [(e["actor"], e["object_id"], e["reason"]) for e in withdrawn] == [
        ("mash:police", request_id, "request withdrawn")
    ]
    assert "rated green" not in json.dumps(events)
