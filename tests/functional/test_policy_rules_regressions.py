"""Regressions for authorisation rules that now live in policies/ (security review V4,
V10, V11, V12): each page asks the firewall, and the answer is what the Cedar rule says."""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.break_glass.models import BreakGlassGrant
from mash_hub.contacts.models import Contact
from mash_hub.db import Database
from mash_hub.identity import services as identity
from tests.accounts import Account
from tests.functional.test_break_glass import closed_contact, open_break_glass  # noqa: F401
from tests.functional.test_contacts_api import CONTACT, token
from tests.functional.test_disclosure import _items, answered_contact, start
from tests.functional.test_governance import add_events, events, export, read_draft, signed_in
from tests.functional.test_people import repeat
from tests.functional.test_requests import ask, rated_contact, researcher, screening
from tests.helpers import csrf_token, current_code, sign_in


def _database(app) -> Database:
    database: Database = app.extensions["mash.db"]
    return database


def make_account_with_roles(app, agency: str, *roles: Role) -> Account:
    email = f"dual.{uuid.uuid4().hex[:8]}@example.test"
    password = "correct horse battery staple"
    seed = os.urandom(20)
    with app.app_context(), _database(app).transaction() as db:
        user = identity.create_user(
            db,
            email=email,
            display_name="Test manager and lead",
            agency_code=agency,
            roles=frozenset(roles),
            password=password,
            totp_seed=seed,
        )
        user_id = user.id
    return Account(email, password, seed, user_id, agency, frozenset(roles))


def reference_of(app, contact_id: str) -> str:
    with _database(app).transaction() as db:
        contact = db.get(Contact, uuid.UUID(contact_id))
        assert contact is not None
        return contact.reference


# ------------------------------------------------------------------ V10


def test_a_manager_who_is_also_a_lead_cannot_review_their_own_break_glass(
    app,
    make_account,
    clock,
    closed_contact,  # noqa: F811
):
    dual = make_account_with_roles(app, "csc", Role.MASH_MANAGER, Role.GOVERNANCE_LEAD)
    web = app.test_client()
    sign_in(web, dual, clock)
    opened = open_break_glass(
        web, closed_contact["reference"], "Child missing overnight", current_code(dual.seed, clock)
    )
    assert opened.status_code == 302
    with _database(app).transaction() as db:
        grant_id = str(db.scalars(select(BreakGlassGrant.id)).one())

    queue = web.get("/governance/break-glass")
    assert grant_id not in queue.text  # one's own grant is never offered for review
    assert "There is no emergency access waiting for review" in queue.text
    assert grant_id not in web.get("/").text

    page = web.get(f"/governance/break-glass/{grant_id}")
    refused = web.post(
        f"/governance/break-glass/{grant_id}",
        data={"outcome": "justified", "notes": "", "csrf_token": csrf_token(page.text)},
    )
    assert refused.status_code == 200
    assert "You cannot review your own use of emergency access" in refused.text
    assert events(app, AuditEvent.kind == "break_glass.reviewed") == []
    with _database(app).transaction() as db:
        assert db.scalars(select(BreakGlassGrant.reviewed_at)).one() is None
    decisions = events(app, AuditEvent.action == "break_glass:review")
    assert {(e.decision, e.policy_ids, e.clauses) for e in decisions} == {
        ("deny", "forbid-review-own-break-glass", "7.3")
    }

    # Another lead of the agency still reviews it.
    other, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    assert grant_id in other.get("/governance/break-glass").text
    page = other.get(f"/governance/break-glass/{grant_id}")
    done = other.post(
        f"/governance/break-glass/{grant_id}",
        data={"outcome": "justified", "notes": "", "csrf_token": csrf_token(page.text)},
    )
    assert done.status_code == 302
    assert len(events(app, AuditEvent.kind == "break_glass.reviewed")) == 1


def test_opening_break_glass_is_a_decision_of_the_firewall(
    app,
    make_account,
    clock,
    closed_contact,  # noqa: F811
):
    manager = make_account(Role.MASH_MANAGER, "police")
    web = app.test_client()
    sign_in(web, manager, clock)
    opened = open_break_glass(
        web, closed_contact["reference"], "Urgent", current_code(manager.seed, clock)
    )
    assert opened.status_code == 302
    (decision,) = events(
        app, AuditEvent.action == "break_glass:open", AuditEvent.kind == "access.decision"
    )
    assert (decision.decision, decision.policy_ids, decision.clauses) == (
        "allow",
        "mash-manager-open-break-glass",
        "7.1",
    )


# ------------------------------------------------------------------ V11


def test_an_admin_lists_only_their_own_agencys_users_and_the_look_is_audited(
    app, make_account, clock
):
    health_user = make_account(Role.AGENCY_RESEARCHER, "health")
    csc_user = make_account(Role.SCREENER, "csc")
    admin, account = signed_in(app, make_account, clock, Role.ADMIN, "csc")
    page = admin.get("/admin/users")
    assert page.status_code == 200
    assert csc_user.email in page.text
    assert health_user.email not in page.text
    (decision,) = events(app, AuditEvent.action == "users:manage")
    assert (decision.actor_id, decision.decision, decision.object_id, decision.policy_ids) == (
        str(account.user_id),
        "allow",
        "csc",
        "admin-manage-own-users",
    )


# ------------------------------------------------------------------ V12


def _scorecard(page_text: str) -> list[list[str]]:
    section = page_text[page_text.index("Share of requests answered in time") :]
    section = section[: section.index("</table>")]
    rows = re.findall(r"<tr class=\"govuk-table__row\">(.*?)</tr>", section, re.S)
    return [re.findall(r"<td class=\"govuk-table__cell\">([^<]*)</td>", row) for row in rows]


def test_a_partner_lead_sees_only_their_own_agencys_request_performance(
    app, client, make_account, make_client, clock
):
    police = screening(client, make_client)
    contact_id = rated_contact(client, police)
    health_id = ask(client, police, contact_id, "health").json["id"]
    ask(client, police, contact_id, "education")
    clock.advance(timedelta(minutes=30))
    answered = client.post(
        f"/api/v1/requests/{health_id}/response",
        json={"outcome": "not_known"},
        headers=researcher(client, make_client, "health"),
    )
    assert answered.status_code == 201

    health, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "health")
    cells = _scorecard(health.get("/governance").text)
    assert [row[0] for row in cells if row] == ["Health"]
    assert "0 answered, 0 expired, 1 open" not in health.get("/governance").text

    core, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "police")
    assert {row[0] for row in _scorecard(core.get("/governance").text) if row} == {
        "Education",
        "Health",
    }
    reads = {
        (e.agency, e.object_id, e.decision)
        for e in events(app, AuditEvent.action == "performance:read")
    }
    assert {("health", "health", "allow"), ("police", "education", "allow")} <= reads
    # (On PostgreSQL row-level security already hides education's requests from health.)
    assert not {r for r in reads if r[0] == "health" and r[1] != "health" and r[2] == "allow"}


# ------------------------------------------------------------------ V4


@pytest.fixture
def police(client, make_client):
    return token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)


@pytest.fixture
def linked_contact(app, client, make_account, clock, police):
    """A MASH contact with a child linked to the person register: (contact id, person id)."""
    screener, _ = signed_in(app, make_account, clock, Role.SCREENER, "csc")
    _first, second, person_id = repeat(app, client, police, screener)
    return second, person_id


def _same_page(html: str, typed: str) -> str:
    """The page with what was typed, the per-response nonce and the form token taken out."""
    html = re.sub(r'nonce="[^"]*"', "", html.replace(typed, "X"))
    return re.sub(r'(name="csrf[-_]token"[^>]*content|value)="[^"]*\.[^"]*"', "", html)


def _trail_text(app, agency: str) -> str:
    """Everything the agency's lead could read in its own trail about lookups and exports."""
    rows = events(app, AuditEvent.agency == agency)
    return " ".join(f"{e.object_id} {e.contact_id} {e.reason}" for e in rows)


def test_a_partner_lead_cannot_tell_a_mash_contact_from_a_missing_one(
    app, make_account, clock, linked_contact
):
    contact_id, person_id = linked_contact
    reference = reference_of(app, contact_id)
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "health")

    existing = lead.get(f"/governance/audit?reference={reference}")
    missing = lead.get("/governance/audit?reference=MASH-2026-999999")
    assert contact_id not in _trail_text(app, "health")
    by_id = lead.get(f"/governance/audit?contact_id={contact_id}")
    for page in (existing, missing, by_id):
        assert page.status_code == 200
        assert person_id not in page.text
        assert "linked to the person register" not in page.text
    assert _same_page(existing.text, reference) == _same_page(missing.text, "MASH-2026-999999")
    finds = events(app, AuditEvent.action == "audit:find_contact")
    assert [(e.object_id, e.contact_id, e.decision) for e in finds] == [
        (reference, None, "deny"),
        ("MASH-2026-999999", None, "deny"),
        (contact_id, None, "deny"),
    ]


def test_a_partner_leads_export_does_not_resolve_a_mash_contact(
    app, make_account, clock, linked_contact
):
    contact_id, _ = linked_contact
    reference = reference_of(app, contact_id)
    lead, account = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "education")
    for query in (f"reference={reference}", "reference=MASH-2026-999999"):
        response = export(lead, query, current_code(account.seed, clock))
        assert response.status_code == 200
        clock.advance(timedelta(seconds=31))  # a fresh code for the next export
    exported = events(app, AuditEvent.kind == "audit.exported")
    assert [e.reason for e in exported] == ["0 events; none", "0 events; none"]
    assert contact_id not in _trail_text(app, "education")


def test_a_partner_lead_finds_a_contact_in_its_own_trail_but_not_its_linked_children(
    app, make_account, clock, linked_contact
):
    contact_id, person_id = linked_contact
    reference = reference_of(app, contact_id)
    health_actor = uuid.uuid4()
    add_events(app, [read_draft(health_actor, "health", contact_id, decision="deny")])

    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "health")
    page = lead.get(f"/governance/audit?contact_id={contact_id}")
    assert str(health_actor) in page.text
    assert person_id not in page.text
    (find,) = events(app, AuditEvent.action == "audit:find_contact")
    assert (find.decision, find.policy_ids) == (
        "allow",
        "governance-lead-find-contact-in-own-trail",
    )
    (children,) = events(app, AuditEvent.action == "audit:linked_children")
    assert children.decision == "deny"
    # By reference too (on PostgreSQL row-level security hides the MASH's contacts from a
    # partner altogether, so the reference then answers as a missing one).
    assert person_id not in lead.get(f"/governance/audit?reference={reference}").text

    core, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    assert f"person={person_id}" in core.get(f"/governance/audit?reference={reference}").text


def test_a_core_lead_still_finds_any_contact(app, client, make_account, clock, police):
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police).json
    lead, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "police")
    page = lead.get(f"/governance/audit?reference={created['reference']}")
    assert page.status_code == 200
    (find,) = events(app, AuditEvent.action == "audit:find_contact")
    assert find.decision == "allow"
    assert "core-governance-lead-find-any-contact" in find.policy_ids.split()


# ------------------------------------------------------------------ disclosures


def test_disclosure_rules_are_decided_by_the_firewall(
    app, client, clock, make_client, make_account
):
    police = screening(client, make_client)
    contact_id = answered_contact(client, police, make_client, restricted=True)
    manager = make_account(Role.MASH_MANAGER, "csc")
    browser = app.test_client()
    sign_in(browser, manager, clock)
    fact, opinion = _items(app)
    url = start(browser, contact_id, [fact, opinion]).headers["Location"]
    disclosure_id = url.rsplit("/", 1)[1]
    assert browser.get(url).status_code == 200
    made = events(app, AuditEvent.action == "disclosure:make")
    assert [(e.object_id, e.decision, e.policy_ids, e.clauses) for e in made] == [
        ("new", "allow", "mash-manager-make-disclosure", "5.3"),
        (disclosure_id, "allow", "mash-manager-make-disclosure", "5.3"),
    ]

    health, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "health")
    assert health.get(f"/disclosures/{disclosure_id}/approval").status_code == 200
    education, _ = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "education")
    missing = str(uuid.uuid4())
    assert education.get(f"/disclosures/{disclosure_id}/approval").status_code == 404
    assert education.get(f"/disclosures/{missing}/approval").status_code == 404
    approvals = events(app, AuditEvent.action == "disclosure:approve")
    assert [(e.agency, e.object_id, e.decision, e.reason) for e in approvals] == [
        ("health", disclosure_id, "allow", "permitted by originating-lead-approve-disclosure"),
        ("education", disclosure_id, "deny", "no policy permits"),
        ("education", missing, "deny", "no policy permits"),
    ]


# ------------------------------------------------------------------ screening queue


def test_the_screening_queue_is_the_mash_sides_by_a_firewall_decision(app, make_account, clock):
    partner, _ = signed_in(app, make_account, clock, Role.SCREENER, "health")
    assert partner.get("/queue").status_code == 404
    core, _ = signed_in(app, make_account, clock, Role.SCREENER, "police")
    assert core.get("/queue").status_code == 200
    reads = events(app, AuditEvent.action == "screening:read")
    assert [(e.agency, e.decision, e.policy_ids) for e in reads][:1] == [("health", "deny", "")]
    assert ("police", "allow", "mash-side-read-screening-queue") in {
        (e.agency, e.decision, e.policy_ids) for e in reads
    }


def test_a_partner_leads_search_by_child_names_no_contact_outside_its_trail(
    app, make_account, clock, linked_contact
):
    contact_id, person_id = linked_contact
    lead, account = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "health")
    response = export(lead, f"person={person_id}", current_code(account.seed, clock))
    assert response.status_code == 200
    (exported,) = events(app, AuditEvent.kind == "audit.exported")
    assert exported.reason == f"0 events; persons={person_id}"
    assert contact_id not in _trail_text(app, "health")

    core, core_account = signed_in(app, make_account, clock, Role.GOVERNANCE_LEAD, "csc")
    export(core, f"person={person_id}", current_code(core_account.seed, clock))
    core_export = events(app, AuditEvent.kind == "audit.exported", AuditEvent.agency == "csc")
    assert contact_id in core_export[0].reason
