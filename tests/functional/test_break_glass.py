"""Break-glass: a MASH manager opens emergency access with a reason and a fresh code; each
use is flagged, the governance leads are told, and a review follows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import Contact
from mash_hub.db import Database
from mash_hub.identity import services as identity
from mash_hub.notifications.models import Notification
from mash_hub.sharing.models import InfoRequest
from tests.functional.test_contacts_api import CANARY, CONTACT, token
from tests.helpers import TOTP_STEP, csrf_token, current_code, sign_in, sign_out


@pytest.fixture
def closed_contact(app, client, make_client):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE)
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police).json
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        session.execute(
            update(Contact).where(Contact.reference == created["reference"]).values(status="closed")
        )
    return created


def open_break_glass(client, reference, reason, code):
    page = client.get("/break-glass")
    return client.post(
        "/break-glass",
        data={
            "reference": reference,
            "reason": reason,
            "code": code,
            "csrf_token": csrf_token(page.text),
        },
    )


def rows(app, query):
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.execute(query).all()


def test_manager_breaks_glass_reads_the_contact_and_is_reviewed(
    app, make_account, clock, closed_contact
):
    manager = make_account(Role.MASH_MANAGER, "csc")
    web = app.test_client()
    sign_in(web, manager, clock)
    path = f"/contacts/{closed_contact['id']}"
    assert web.get(path).status_code == 404  # closed: outside the normal rules

    response = open_break_glass(
        web, closed_contact["reference"], "Child missing overnight; police need history now",
        current_code(manager.seed, clock),
    )  # fmt: skip
    assert response.status_code == 302
    assert response.headers["Location"] == path
    page = web.get(path)
    assert page.status_code == 200
    assert CANARY in page.text

    flagged = rows(
        app,
        select(AuditEvent.kind, AuditEvent.break_glass, AuditEvent.decision).where(
            # A closed contact's page reads it under contact:review (read only).
            AuditEvent.contact_id == closed_contact["id"],
            AuditEvent.action == "contact:review",
        ),
    )
    assert [tuple(r) for r in flagged] == [
        ("access.decision", False, "deny"),
        ("access.break_glass", True, "allow"),
    ]
    told = rows(app, select(Notification.recipient_agency, Notification.recipient_role))
    assert sorted(tuple(r) for r in told) == [
        ("csc", "governance_lead"),
        ("police", "governance_lead"),
    ]

    # The window closes after 60 minutes.
    clock.advance(timedelta(minutes=61))
    web = app.test_client()
    sign_in(web, manager, clock)
    assert web.get(path).status_code == 404

    lead = make_account(Role.GOVERNANCE_LEAD, "police")
    governance = app.test_client()
    sign_in(governance, lead, clock)
    home = governance.get("/")
    assert "Emergency access to review" in home.text
    assert manager.email not in home.text
    queue = governance.get("/governance/break-glass")
    link = queue.text.split('href="/governance/break-glass/')[1].split('"')[0]
    review_page = governance.get(f"/governance/break-glass/{link}")
    assert "Child missing overnight" in review_page.text
    done = governance.post(
        f"/governance/break-glass/{link}",
        data={
            "outcome": "justified",
            "notes": "Agreed",
            "csrf_token": csrf_token(review_page.text),
        },
    )
    assert done.status_code == 302
    assert (
        "There is no emergency access waiting for review"
        in governance.get("/governance/break-glass").text
    )
    reviewed = rows(app, select(AuditEvent.kind, AuditEvent.reason).where(
        AuditEvent.kind == "break_glass.reviewed"))  # fmt: skip
    assert [tuple(r) for r in reviewed] == [("break_glass.reviewed", "justified")]


def test_break_glass_needs_a_reason_and_a_fresh_code(app, make_account, clock, closed_contact):
    manager = make_account(Role.MASH_MANAGER, "csc")
    web = app.test_client()
    sign_in(web, manager, clock)
    reference = closed_contact["reference"]
    no_reason = open_break_glass(web, reference, "", current_code(manager.seed, clock))
    assert "Give the reason for emergency access" in no_reason.text
    wrong = open_break_glass(web, reference, "Urgent", "000000")
    assert "security code is not correct" in wrong.text
    used = identity.totp_code(manager.seed, clock.now() - TOTP_STEP)  # spent at sign-in
    stale = open_break_glass(web, reference, "Urgent", used)
    assert "security code is not correct" in stale.text
    unknown = open_break_glass(web, "MASH-2026-999999", "Urgent", current_code(manager.seed, clock))
    assert "There is no contact with that reference" in unknown.text
    huge = open_break_glass(web, reference, "x" * 5000, current_code(manager.seed, clock))
    assert "2000 characters or fewer" in huge.text
    assert rows(app, select(AuditEvent.id).where(AuditEvent.kind == "break_glass.opened")) == []
    assert web.get(f"/contacts/{closed_contact['id']}").status_code == 404


def test_only_managers_break_glass_and_only_leads_review(app, make_account, clock):
    screener = make_account(Role.SCREENER, "police")
    web = app.test_client()
    sign_in(web, screener, clock)
    assert web.get("/break-glass").status_code == 403
    assert web.get("/governance/break-glass").status_code == 403
    sign_out(web)
    lead = make_account(Role.GOVERNANCE_LEAD, "health")
    sign_in(web, lead, clock)
    assert web.get("/break-glass").status_code == 403
    assert web.get("/governance/break-glass/not-a-grant").status_code == 404


def test_the_error_summary_follows_the_fields_order(app, make_account, clock):
    """Usability review m20: the summary listed the code first, then reference, reason."""
    manager = make_account(Role.MASH_MANAGER, "csc")
    web = app.test_client()
    sign_in(web, manager, clock)
    page = web.get("/break-glass")
    empty = web.post(
        "/break-glass",
        data={"reference": "", "reason": "", "code": "", "csrf_token": csrf_token(page.text)},
    )
    summary = empty.text.split("govuk-error-summary__list")[1].split("</ul>")[0]
    assert summary.index("#reference") < summary.index("#reason") < summary.index("#code")


def test_mash_staff_are_told_a_contact_has_closed_and_how_to_reach_it(
    app, make_account, clock, closed_contact
):
    """Usability review D2 and D3: a closed contact gave every MASH role "Page not found",
    and break-glass was reachable only by typing its address."""
    reference = closed_contact["reference"]
    manager = make_account(Role.MASH_MANAGER, "csc")
    web = app.test_client()
    sign_in(web, manager, clock)
    page = web.get(f"/contacts/{closed_contact['id']}")
    assert page.status_code == 404
    assert f"{reference} is closed" in page.text and 'id="closed-contact"' in page.text
    offer = f'href="/break-glass?reference={reference}"'
    assert offer in page.text
    form = web.get(f"/break-glass?reference={reference}").text
    assert f'value="{reference}"' in form  # the reference filled in
    assert "/break-glass" in web.get("/").text  # findable from the manager's home page

    screener = app.test_client()
    sign_in(screener, make_account(Role.SCREENER, "police"), clock)
    told = screener.get(f"/contacts/{closed_contact['id']}").text
    assert f"{reference} is closed" in told and "ask a MASH manager" in told
    assert offer not in told
    assert rows(
        app,
        select(AuditEvent.id).where(
            AuditEvent.action == "contact:history", AuditEvent.contact_id == closed_contact["id"]
        ),
    )  # what they were told of it is decided and in the trail

    partner = app.test_client()
    sign_in(partner, make_account(Role.AGENCY_RESEARCHER, "health"), clock)
    refused = partner.get(f"/contacts/{closed_contact['id']}")
    assert refused.status_code in (403, 404) and reference not in refused.text


def test_break_glass_is_shown_while_open_and_reads_only(app, make_account, clock, closed_contact):
    """Usability review D3: while emergency access is open its page says so, with the
    reason and the time left; it reads the contact and changes nothing: a request sent on
    the closed contact is refused and nothing is created."""
    manager = make_account(Role.MASH_MANAGER, "police")
    web = app.test_client()
    sign_in(web, manager, clock)
    opened = open_break_glass(
        web, closed_contact["reference"], "Child missing overnight; police need history now",
        current_code(manager.seed, clock),
    )  # fmt: skip
    assert opened.status_code == 302
    page = web.get(f"/contacts/{closed_contact['id']}")
    banner = page.text.split('id="emergency-access"')[1].split("</div>\n    </div>")[0]
    assert "emergency (break-glass) access, read only" in banner
    assert "59 minutes left" in banner or "1 hour left" in banner
    assert "Child missing overnight" in banner
    assert "Ask an agency" not in page.text and "Decision and sign-off" not in page.text
    token = csrf_token(page.text)
    sent = web.post(
        f"/contacts/{closed_contact['id']}/requests/new",
        data={"agency": "health", "question": "Known?", "csrf_token": token},
    )
    assert sent.status_code == 404
    assert rows(app, select(InfoRequest.id)) == []
    # Once the window has closed the banner goes with it.
    clock.advance(timedelta(minutes=61))
    again = app.test_client()
    sign_in(again, manager, clock)
    assert 'id="emergency-access"' not in again.get(f"/contacts/{closed_contact['id']}").text
