"""A closed contact stays readable, read only, to MASH staff for screening history (#13
item 1, usability review D2; #16 item 2: the chronology opens earlier contacts): decided
as contact:review under ISA-MASH-CORE 8.10 for the repeat-contact window after it closed,
audited like any read; nothing on it can be changed; past the window only break-glass
reads it; partners never."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import Contact, ContactRating
from mash_hub.db import Database
from mash_hub.sharing.models import InfoRequest
from tests.functional.test_contacts_api import CONTACT, token
from tests.helpers import csrf_token, sign_in

CONCERN = CONTACT["concern"]


def _db(app) -> Database:
    return app.extensions["mash.db"]


def scalar(app, query):
    with _db(app).transaction() as session:
        return session.scalar(query)


@pytest.fixture
def police(client, make_client):
    return token(
        client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )  # fmt: skip


@pytest.fixture
def closed(app, client, clock, police):
    """An Amber contact that closed a day ago."""
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police).json
    rated = client.post(
        f"/api/v1/contacts/{created['id']}/rating",
        json={"rag": "amber", "rationale": "needs checks"},
        headers=police,
    )
    assert rated.status_code == 200
    close(app, created["id"], clock.now() - timedelta(days=1))
    return created


def close(app, contact_id, when):
    with _db(app).transaction() as session:
        session.execute(
            update(Contact)
            .where(Contact.id == uuid.UUID(contact_id))
            .values(status="closed", closed_at=when)
        )


def web(app, make_account, clock, role=Role.SCREENER, agency="csc"):
    browser = app.test_client()
    sign_in(browser, make_account(role, agency), clock)
    return browser


def test_mash_staff_read_a_closed_contact_and_change_nothing(app, clock, make_account, closed):
    screener = web(app, make_account, clock)
    page = screener.get(f"/contacts/{closed['id']}")
    assert page.status_code == 200
    assert "This contact is closed. You can read it but not change it." in page.text
    assert CONCERN in page.text and "Sam" in page.text
    for action in (
        "Rate this contact",
        "Re-rate this contact",
        "Decision and sign-off",
        "Ask an agency",
        "Make a disclosure",
    ):
        assert action not in page.text, action
    review = scalar(
        app,
        select(AuditEvent).where(
            AuditEvent.action == "contact:review", AuditEvent.contact_id == closed["id"]
        ),
    )
    assert review.decision == "allow" and review.clauses == "8.10"

    # Every change is refused by the rules, whatever is posted.
    ratings = scalar(app, select(func.count()).select_from(ContactRating))
    token_ = csrf_token(page.text)
    rate = screener.post(
        f"/contacts/{closed['id']}/rating",
        data={"rag": "red", "rationale": "worse", "csrf_token": token_},
    )
    assert rate.status_code in (403, 404, 409)
    ask = screener.post(
        f"/contacts/{closed['id']}/requests/new",
        data={"agency": "health", "question": "Known?", "csrf_token": token_},
    )
    assert ask.status_code in (403, 404, 409)
    assert scalar(app, select(func.count()).select_from(ContactRating)) == ratings
    assert scalar(app, select(func.count()).select_from(InfoRequest)) == 0

    manager = web(app, make_account, clock, Role.MASH_MANAGER, "police")
    shown = manager.get(f"/contacts/{closed['id']}")
    assert shown.status_code == 200 and "You can read it but not change it" in shown.text
    assert manager.get(f"/contacts/{closed['id']}/disclosures/new").status_code in (403, 404)


def test_past_the_window_only_break_glass_reads_it(app, clock, make_account, closed):
    close(app, closed["id"], clock.now() - timedelta(days=400))
    screener = web(app, make_account, clock)
    page = screener.get(f"/contacts/{closed['id']}")
    assert page.status_code == 404
    assert f"{closed['reference']} is closed" in page.text
    manager = web(app, make_account, clock, Role.MASH_MANAGER, "csc")
    offered = manager.get(f"/contacts/{closed['id']}")
    assert offered.status_code == 404 and "emergency access" in offered.text.lower()


def test_partners_and_agency_systems_never_read_it(
    app, client, clock, make_account, closed, police
):
    for role, agency in ((Role.AGENCY_RESEARCHER, "health"), (Role.GOVERNANCE_LEAD, "health")):
        partner = web(app, make_account, clock, role, agency)
        assert partner.get(f"/contacts/{closed['id']}").status_code in (403, 404)
    # The API stays as it was: an agency system reads open contacts only.
    assert client.get(f"/api/v1/contacts/{closed['id']}", headers=police).status_code == 404


def test_an_earlier_contact_in_the_chronology_opens_read_only(
    app, client, clock, make_account, closed, police
):
    again = copy.deepcopy(CONTACT)
    again["concern"] = "Second report about the same child"
    later = client.post("/api/v1/contacts", json=again, headers=police).json
    screener = web(app, make_account, clock)
    page = screener.get(f"/contacts/{later['id']}")
    assert page.status_code == 200
    assert f'href="/contacts/{closed["id"]}"' in page.text  # the possible repeat links it
    earlier = screener.get(f"/contacts/{closed['id']}")
    assert earlier.status_code == 200 and CONCERN in earlier.text
    assert "You can read it but not change it" in earlier.text
