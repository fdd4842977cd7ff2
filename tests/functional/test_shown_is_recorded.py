"""What was shown is what was recorded: every page and API answer that shows protected
content leaves an allowed read event for each record it shows, under that response's
request id, in its ordinary render and in its error render (a 409, or a form shown again
after a refusal whose writes rolled back). Architecture, "The firewall", points 3 and 5."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import ContactSubject
from mash_hub.db import Database
from mash_hub.sharing.models import Contribution, ContributionItem
from tests.functional.test_contacts_api import token
from tests.functional.test_requests import ask, rated_contact, researcher, screening
from tests.helpers import csrf_token, current_code, sign_in

FACT = "canary-5a1e-shown-fact"


class Browser:
    def __init__(self, app, account, clock) -> None:
        self.account = account
        self.client = app.test_client()
        sign_in(self.client, account, clock)

    def get(self, path):
        return self.client.get(path)

    def post(self, path, data, page=None):
        html = self.client.get(page or path).text
        return self.client.post(path, data={**data, "csrf_token": csrf_token(html)})


def shown_reads(app, response) -> set[str]:
    """The object ids with an allowed read event under this response's request id."""
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return set(
            session.scalars(
                select(AuditEvent.object_id).where(
                    AuditEvent.request_id == response.headers["X-Request-Id"],
                    AuditEvent.decision == "allow",
                )
            )
        )


def one(app, query):
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.scalar(query)


@pytest.fixture
def case(app, client, make_client, make_account, clock):
    """A contact rated Amber, answered by health (one fact), with education's request
    still open; and the people who look at it."""
    police = screening(client, make_client)
    contact_id = rated_contact(client, police)
    health_request = ask(client, police, contact_id, "health").json["id"]
    education_request = ask(client, police, contact_id, "education").json["id"]
    answered = client.post(
        f"/api/v1/requests/{health_request}/response",
        json={"outcome": "information_held", "items": [{"kind": "fact", "text": FACT}]},
        headers=researcher(client, make_client, "health"),
    )
    assert answered.status_code == 201, answered.json
    return {
        "police": police,
        "contact": contact_id,
        "health_request": health_request,
        "education_request": education_request,
        "contribution": str(one(app, select(Contribution.id))),
        "item": str(one(app, select(ContributionItem.id))),
        "subject": str(one(app, select(ContactSubject.id))),
        "screener": Browser(app, make_account(Role.SCREENER, "csc"), clock),
        "manager": Browser(app, make_account(Role.MASH_MANAGER, "csc"), clock),
        "education": Browser(app, make_account(Role.AGENCY_RESEARCHER, "education"), clock),
    }


def expect(app, response, status: int, *ids: str, text: str | None = None) -> None:
    assert response.status_code == status, response.text[:500]
    if text is not None:
        assert text in response.text
    missing = set(ids) - shown_reads(app, response)
    assert not missing, f"shown but not recorded: {sorted(missing)}"


def test_screening_pages_record_what_they_show(app, case):
    screener, cid = case["screener"], case["contact"]
    requests = (case["health_request"], case["education_request"])
    # The contact page, with the requests on the contact and health's answer.
    expect(app, screener.get(f"/contacts/{cid}"), 200, cid, *requests, case["contribution"])
    expect(app, screener.get("/queue"), 200, cid)

    rating = f"/contacts/{cid}/rating"
    expect(app, screener.get(rating), 200, cid, text="needs partner checks")
    blank = screener.post(rating, {"rag": "red", "rationale": "   ", "seen_ratings": "1"})
    expect(app, blank, 200, cid, text="needs partner checks")  # refused, rolled back
    stale = screener.post(rating, {"rag": "red", "rationale": "Worse", "seen_ratings": "0"})
    expect(app, stale, 200, cid, text="needs partner checks")  # someone rated since

    decision = f"/contacts/{cid}/decision"
    expect(app, screener.get(decision), 200, cid)
    proposed = screener.post(decision, {"outcome": "signpost", "rationale": "Universal"})
    assert proposed.status_code == 302
    expect(app, screener.post(decision, {"outcome": "early_help", "rationale": "x"}), 409, cid,
           text="Universal")  # fmt: skip
    review = case["manager"].post(
        f"{decision}/review", {"decision_id": str(uuid.uuid4()), "verdict": "approved"},
        page=decision,
    )  # fmt: skip
    expect(app, review, 409, cid, text="Universal")
    told = screener.post(
        f"/contacts/{cid}/acknowledgement",
        {"method": "phone", "told_date": "30/11/2026", "told_time": "09:30"},
        page=decision,
    )
    expect(app, told, 409, cid, text="Universal")

    people = f"/contacts/{cid}/people"
    expect(app, screener.get(people), 200, cid)
    refused = screener.post(
        f"{people}/{case['subject']}/link", {"person_id": str(uuid.uuid4())}, page=people
    )
    expect(app, refused, 200, cid, text="Choose a person from the list")


def test_the_api_records_what_it_answers(app, client, make_client, case):
    cid, police = case["contact"], case["police"]
    requests = (case["health_request"], case["education_request"])
    expect(app, client.get(f"/api/v1/contacts/{cid}", headers=police), 200, cid, *requests)
    contributions = client.get(f"/api/v1/contacts/{cid}/contributions", headers=police)
    expect(app, contributions, 200, case["contribution"], text=FACT)

    education = token(client, make_client, "education", Scope.REQUESTS_READ)
    edu = case["education_request"]
    expect(app, client.get("/api/v1/requests", headers=education), 200, edu)
    expect(app, client.get(f"/api/v1/requests/{edu}", headers=education), 200, edu)
    health = researcher(client, make_client, "health")
    own = client.get(f"/api/v1/requests/{case['health_request']}", headers=health)
    expect(app, own, 200, case["health_request"], text=FACT)


def test_the_researchers_pages_record_what_they_show(app, case):
    browser, edu = case["education"], case["education_request"]
    expect(app, browser.get("/requests"), 200, edu)
    page = f"/requests/{edu}"
    expect(app, browser.get(page), 200, edu, text="Is the family known to you?")
    no_items = browser.post(page, {"outcome": "information_held"})
    expect(app, no_items, 200, edu, text="Is the family known to you?")


def test_disclosure_pages_record_what_they_show(app, clock, case):
    manager, cid = case["manager"], case["contact"]
    new = f"/contacts/{cid}/disclosures/new"
    form = manager.get(new)
    expect(app, form, 200, cid, case["contribution"], text=FACT)
    details = {
        "recipient_agency": "outside",
        "recipient_organisation": "Northshire Family Court",
        "recipient_person": "Clerk to the Justices",
        "purpose": "Care proceedings for the child",
        "lawful_basis": "ISA-MASH-CORE#1",
    }
    no_items = manager.post(new, details)
    expect(app, no_items, 200, cid, case["contribution"], text=FACT)
    made = manager.post(new, {**details, "items": ["concern", case["item"]]})
    assert made.status_code == 302, made.text
    url = made.headers["Location"]
    disclosure = url.rstrip("/").rsplit("/", 1)[-1]
    expect(app, manager.get(url), 200, disclosure, text=FACT)
    wrong = manager.post(url, {"code": "000000"})
    expect(app, wrong, 200, disclosure, text=FACT)
    clock.advance(timedelta(seconds=31))
    done = manager.post(url, {"code": current_code(manager.account.seed, clock)})
    assert done.status_code == 302, done.text
    expect(app, manager.get(url + "/print"), 200, disclosure, text=FACT)
