"""Disclosure out of the MASH: a manager records it, originators approve their restricted
items, a fresh security code completes it, and the record cannot change afterwards."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.disclosure.models import Disclosure, DisclosureItem
from mash_hub.sharing.models import ContributionItem
from tests.functional.test_requests import ask, rated_contact, researcher, screening
from tests.functional.test_row_level_security import visible
from tests.helpers import csrf_token, current_code, sign_in

OPEN_CANARY = "canary-d1a0-open-fact"
SECRET_CANARY = "canary-d1a1-restricted-opinion"


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def answered_contact(client, police, make_client, *, restricted: bool) -> str:
    contact_id = rated_contact(client, police)
    health_id = ask(client, police, contact_id, "health").json["id"]
    items = [{"kind": "fact", "text": OPEN_CANARY}]
    if restricted:
        items.append({"kind": "opinion", "text": SECRET_CANARY, "restricted": True})
    answered = client.post(
        f"/api/v1/requests/{health_id}/response",
        json={"outcome": "information_held", "items": items},
        headers=researcher(client, make_client, "health"),
    )
    assert answered.status_code == 201, answered.json
    return contact_id


def _items(app) -> list[str]:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return [
            str(i)
            for i in session.scalars(
                select(ContributionItem.id).order_by(ContributionItem.position)
            )
        ]


def _count(app, model) -> int:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _events(app, kind: str) -> int:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return (
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == kind)
            )
            or 0
        )


def start(browser, contact_id: str, items: list[str], **overrides: str):
    """Both steps: who, why and what; then the first lawful basis offered for them."""
    form = browser.get(f"/contacts/{contact_id}/disclosures/new")
    assert form.status_code == 200
    assert "lawful_basis" not in form.text  # offered once the recipient is known
    data = {
        "csrf_token": csrf_token(form.text),
        "recipient_agency": "outside",
        "recipient_organisation": "Northshire Family Court",
        "recipient_person": "Clerk to the Justices",
        "purpose": "Care proceedings for the child",
        "items": items,
    }
    data.update(overrides)
    chosen = browser.post(f"/contacts/{contact_id}/disclosures/new", data={**data, "step": "1"})
    basis = re.search(r'value="(ISA-[A-Z0-9-]+#\d+)"', chosen.text)
    if basis is None:  # step one refused: its page, with the errors
        return chosen
    return browser.post(
        f"/contacts/{contact_id}/disclosures/new",
        data={**data, "step": "2", "lawful_basis": basis.group(1)},
    )


def complete(browser, disclosure_url: str, code: str):
    page = browser.get(disclosure_url)
    return browser.post(disclosure_url, data={"code": code, "csrf_token": csrf_token(page.text)})


@pytest.fixture
def manager(app, clock, make_account):
    account = make_account(Role.MASH_MANAGER, "csc")
    browser = app.test_client()
    sign_in(browser, account, clock)
    return browser, account


def test_a_manager_discloses_and_prints_the_record(
    app, client, clock, police, make_client, manager
):
    contact_id = answered_contact(client, police, make_client, restricted=False)
    browser, account = manager
    [fact] = _items(app)
    made = start(browser, contact_id, ["concern", fact])
    assert made.status_code == 302, made.text
    url = made.headers["Location"]
    page = browser.get(url)
    assert "Ready" in page.text and OPEN_CANARY in page.text
    clock.advance(timedelta(seconds=31))
    done = complete(browser, url, current_code(account.seed, clock))
    assert done.status_code == 302, done.text
    printed = browser.get(url + "/print")
    assert printed.status_code == 200
    for shown in (
        "Northshire Family Court",
        "Clerk to the Justices",
        "Care proceedings",
        OPEN_CANARY,
        "Test MASH manager",
        "DISC-",
    ):
        assert shown in printed.text
    assert "@media print" in printed.text
    assert _events(app, "disclosure.started") == 1
    assert _events(app, "disclosure.completed") == 1
    assert _events(app, "disclosure.read") >= 3  # the page twice and the print view
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.contact_id == contact_id,
                    AuditEvent.actor_id == str(account.user_id),
                    AuditEvent.decision == "allow",
                )
            )
        )
    assert {"contact:read", "contribution:read"} <= actions
    # The contact page lists it.
    assert "to Northshire Family Court, completed" in browser.get(f"/contacts/{contact_id}").text


def test_a_restricted_item_waits_for_the_originators_approval(
    app, client, clock, police, make_client, manager, make_account
):
    contact_id = answered_contact(client, police, make_client, restricted=True)
    browser, account = manager
    fact, opinion = _items(app)
    url = start(browser, contact_id, [fact, opinion]).headers["Location"]
    assert "Awaiting approval" in browser.get(url).text
    blocked = complete(browser, url, current_code(account.seed, clock))
    assert "Every originating agency must approve" in blocked.text
    assert "govuk-error-summary" in blocked.text

    lead = app.test_client()
    sign_in(lead, make_account(Role.GOVERNANCE_LEAD, "health"), clock)
    assert "1 disclosure waiting for your agency" in lead.get("/").text
    queue = lead.get("/disclosures/approvals")
    disclosure_id = url.rsplit("/", 1)[1]
    assert disclosure_id in queue.text
    assert SECRET_CANARY not in queue.text
    page = lead.get(f"/disclosures/{disclosure_id}/approval")
    approved = lead.post(
        f"/disclosures/{disclosure_id}/approval",
        data={"decision": "approved", "csrf_token": csrf_token(page.text)},
    )
    assert approved.status_code == 302
    assert disclosure_id not in lead.get("/disclosures/approvals").text
    # Another agency's lead sees nothing of it.
    other = app.test_client()
    sign_in(other, make_account(Role.GOVERNANCE_LEAD, "education"), clock)
    assert other.get(f"/disclosures/{disclosure_id}/approval").status_code == 404

    assert "An agency decided on a disclosure" in browser.get("/").text
    clock.advance(timedelta(seconds=31))
    done = complete(browser, url, current_code(account.seed, clock))
    assert done.status_code == 302, done.text
    printed = browser.get(url + "/print").text
    assert SECRET_CANARY in printed and "Approved by Test Governance lead (Health)" in printed


def test_a_refusal_by_the_originator_stops_the_disclosure(
    app, client, clock, police, make_client, manager, make_account
):
    contact_id = answered_contact(client, police, make_client, restricted=True)
    browser, account = manager
    _fact, opinion = _items(app)
    url = start(browser, contact_id, [opinion]).headers["Location"]
    disclosure_id = url.rsplit("/", 1)[1]
    lead = app.test_client()
    sign_in(lead, make_account(Role.GOVERNANCE_LEAD, "health"), clock)
    page = lead.get(f"/disclosures/{disclosure_id}/approval")
    # Usability review D10: the lead sees what they are asked to release, and says why not.
    assert SECRET_CANARY in page.text
    no_reason = lead.post(
        f"/disclosures/{disclosure_id}/approval",
        data={"decision": "refused", "csrf_token": csrf_token(page.text)},
    )
    assert no_reason.status_code == 200 and "govuk-error-summary" in no_reason.text
    assert "Give the reason for refusing the release" in no_reason.text
    assert _events(app, "disclosure.refused") == 0
    refusing = lead.post(
        f"/disclosures/{disclosure_id}/approval",
        data={
            "decision": "refused",
            "reason": "The named nurse is a witness in proceedings",
            "csrf_token": csrf_token(no_reason.text),
        },
    )
    assert refusing.status_code == 302
    shown = browser.get(url).text
    assert "Refused" in shown
    assert "The named nurse is a witness in proceedings" in shown  # the manager learns why
    refused = complete(browser, url, current_code(account.seed, clock))
    assert "An originating agency refused this disclosure" in refused.text
    assert browser.get(url + "/print").status_code == 404
    assert _events(app, "disclosure.refused") == 1


def test_a_wrong_code_does_not_complete(app, client, clock, police, make_client, manager):
    contact_id = answered_contact(client, police, make_client, restricted=False)
    browser, _account = manager
    url = start(browser, contact_id, ["concern"]).headers["Location"]
    wrong = complete(browser, url, "000000")
    assert wrong.status_code == 200
    assert "govuk-error-summary" in wrong.text
    assert "The security code is not correct" in wrong.text
    assert browser.get(url + "/print").status_code == 404
    assert _events(app, "step_up.refused") == 1


def test_a_screener_cannot_disclose(app, client, clock, police, make_client, make_account):
    contact_id = answered_contact(client, police, make_client, restricted=False)
    screener = app.test_client()
    sign_in(screener, make_account(Role.SCREENER, "police"), clock)
    assert screener.get(f"/contacts/{contact_id}/disclosures/new").status_code == 403
    assert "Make a disclosure" not in screener.get(f"/contacts/{contact_id}").text


def test_partners_cannot_see_disclosures(
    app, client, clock, police, make_client, manager, make_account
):
    contact_id = answered_contact(client, police, make_client, restricted=False)
    browser, _account = manager
    url = start(browser, contact_id, ["concern"]).headers["Location"]
    disclosure_id = url.rsplit("/", 1)[1]
    # health's lead: no restricted item of theirs in it.
    lead = app.test_client()
    sign_in(lead, make_account(Role.GOVERNANCE_LEAD, "health"), clock)
    assert lead.get(f"/disclosures/{disclosure_id}/approval").status_code == 404
    assert lead.get(url).status_code == 403
    nurse = app.test_client()
    sign_in(nurse, make_account(Role.AGENCY_RESEARCHER, "health"), clock)
    assert nurse.get(url).status_code == 403
    assert nurse.get(f"/disclosures/{uuid.uuid4()}/approval").status_code == 403


def test_bad_input_saves_nothing(app, client, clock, police, make_client, manager):
    contact_id = answered_contact(client, police, make_client, restricted=False)
    browser, _account = manager
    bad = start(browser, contact_id, [], recipient_organisation="  ")
    assert bad.status_code == 200
    assert "govuk-error-summary" in bad.text
    assert "Enter the organisation receiving the information" in bad.text
    assert "Choose at least one item to release" in bad.text
    forged = start(browser, contact_id, [str(uuid.uuid4())])
    assert forged.status_code == 200 and "govuk-error-summary" in forged.text
    assert _count(app, Disclosure) == 0 and _count(app, DisclosureItem) == 0


def test_a_disclosure_cannot_be_changed_or_deleted(
    app, client, clock, police, make_client, manager
):
    contact_id = answered_contact(client, police, make_client, restricted=False)
    browser, _account = manager
    start(browser, contact_id, ["concern"])
    database: Database = app.extensions["mash.db"]
    for statement in (
        "UPDATE disclosures SET purpose = 'changed'",
        "DELETE FROM disclosure_items",
        "UPDATE disclosure_items SET restricted = true",
        "DELETE FROM disclosures",
    ):
        # Outside a request the transaction is the system's: RLS shows every row, and
        # only the triggers stand in the way.
        with (
            pytest.raises(Exception, match="append-only"),
            database.transaction() as session,
        ):
            session.execute(text(statement))
    assert _count(app, Disclosure) == 1


def test_row_level_security_keeps_disclosures_on_the_mash_side(
    app, client, clock, police, make_client, manager, database_url
):
    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    contact_id = answered_contact(client, police, make_client, restricted=True)
    browser, _account = manager
    fact, opinion = _items(app)
    start(browser, contact_id, ["concern", fact, opinion])
    start(browser, contact_id, ["concern"])
    engine = create_engine(database_url)
    try:
        assert visible(engine, "police", "disclosures") == 2
        assert visible(engine, "police", "disclosure_items") == 4
        # health originated a restricted item in one of them: that disclosure and that
        # item only, to decide on it.
        assert visible(engine, "health", "disclosures") == 1
        assert visible(engine, "health", "disclosure_items") == 1
        for agency in ("education", None):
            assert visible(engine, agency, "disclosures") == 0
            assert visible(engine, agency, "disclosure_items") == 0
        assert visible(engine, "health", "disclosure_completions") == 0
    finally:
        engine.dispose()


def _step_one(browser, contact_id: str, agency: str, **overrides):
    form = browser.get(f"/contacts/{contact_id}/disclosures/new")
    data = {
        "csrf_token": csrf_token(form.text),
        "step": "1",
        "recipient_agency": agency,
        "recipient_organisation": "Northshire Family Court" if agency == "outside" else "",
        "recipient_person": "Duty sergeant",
        "purpose": "Strategy discussion",
        "items": ["concern"],
        **overrides,
    }
    return data, browser.post(f"/contacts/{contact_id}/disclosures/new", data=data)


def _offered(html: str) -> list[str]:
    return re.findall(r'name="lawful_basis"[^>]*value="([^"]+)"', html) or re.findall(
        r'value="([^"]+)"[^>]*name="lawful_basis"', html
    )


def test_lawful_bases_are_offered_once_each_from_the_recipients_agreements(
    app, client, police, make_client, manager
):
    """Usability review m10: 36 radios, each basis repeated with each agreement's name."""
    contact_id = answered_contact(client, police, make_client, restricted=False)
    browser, _account = manager
    _data, outside = _step_one(browser, contact_id, "outside")
    assert outside.status_code == 200 and "Choose the lawful basis" in outside.text
    offered = _offered(outside.text)
    assert offered and all(key.startswith("ISA-MASH-CORE#") for key in offered)
    assert "(health and social care)" not in outside.text  # Health's agreement only

    _data, health = _step_one(browser, contact_id, "health")
    health_bases = _offered(health.text)
    assert "UK GDPR Art 9(2)(h) (health and social care)" in health.text
    assert "Education Act 2002 s175" not in health.text
    assert "Children Act 1989 s17 (children in need)" not in health.text  # core only

    _data, police_page = _step_one(browser, contact_id, "police")
    labels = re.findall(
        r'class="govuk-label govuk-radios__label"[^>]*>\s*([^<]+?)\s*<', police_page.text
    )
    assert len(labels) == len(set(labels))  # each basis once, not once per agreement
    assert len(_offered(police_page.text)) < 12 and len(health_bases) <= 7


def test_a_basis_outside_the_recipients_agreements_is_refused(
    app, client, police, make_client, manager
):
    contact_id = answered_contact(client, police, make_client, restricted=False)
    browser, _account = manager
    data, _page = _step_one(browser, contact_id, "health")
    education_only = browser.post(
        f"/contacts/{contact_id}/disclosures/new",
        data={**data, "step": "2", "lawful_basis": "ISA-MASH-EDUCATION#5"},
    )
    assert education_only.status_code == 200
    assert "govuk-error-summary" in education_only.text
    assert "from those offered" in education_only.text
    missing = browser.post(f"/contacts/{contact_id}/disclosures/new", data={**data, "step": "2"})
    assert "Choose the lawful basis for the disclosure" in missing.text
    assert _count(app, Disclosure) == 0


def test_changing_the_details_keeps_what_was_entered(app, client, police, make_client, manager):
    contact_id = answered_contact(client, police, make_client, restricted=False)
    browser, _account = manager
    data, _page = _step_one(browser, contact_id, "outside")
    back = browser.post(
        f"/contacts/{contact_id}/disclosures/new",
        data={**data, "step": "2", "change": "Change the details"},
    )
    assert back.status_code == 200
    assert 'value="Northshire Family Court"' in back.text
    assert "Strategy discussion" in back.text
    assert "lawful_basis" not in back.text
    assert _count(app, Disclosure) == 0


def test_a_hub_agency_recipient_is_recorded_by_its_name(app, client, police, make_client, manager):
    contact_id = answered_contact(client, police, make_client, restricted=False)
    browser, _account = manager
    data, page = _step_one(browser, contact_id, "police")
    made = browser.post(
        f"/contacts/{contact_id}/disclosures/new",
        data={**data, "step": "2", "lawful_basis": _offered(page.text)[0]},
    )
    assert made.status_code == 302, made.text
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        disclosure = session.scalar(select(Disclosure))
        assert disclosure.recipient_organisation == "Police (Public Protection Desk)"
        assert disclosure.isa_id == "ISA-MASH-CORE"  # the fewest parties first


def test_the_approving_lead_sees_only_their_own_restricted_items(
    app, client, clock, police, make_client, manager, make_account
):
    """Usability review D10: "Your restricted items: 1 (fact)" and nothing else to go on.
    The lead now reads their own agency's restricted item, and only that: not the MASH's
    concern, not the unrestricted fact, and their reading is in the trail."""
    contact_id = answered_contact(client, police, make_client, restricted=True)
    browser, _account = manager
    fact, opinion = _items(app)
    url = start(browser, contact_id, ["concern", fact, opinion]).headers["Location"]
    disclosure_id = url.rsplit("/", 1)[1]
    lead = app.test_client()
    sign_in(lead, make_account(Role.GOVERNANCE_LEAD, "health"), clock)
    page = lead.get(f"/disclosures/{disclosure_id}/approval").text
    shown = page.split('id="own-restricted-items"')[1].split("</ol>")[0]
    assert SECRET_CANARY in shown
    assert OPEN_CANARY not in page and "Neighbour reports" not in page
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        reasons = session.scalars(
            select(AuditEvent.reason).where(AuditEvent.kind == "disclosure.read")
        ).all()
    assert any("1 of the agency's own restricted items shown" in (r or "") for r in reasons)
    other = app.test_client()
    sign_in(other, make_account(Role.GOVERNANCE_LEAD, "education"), clock)
    assert other.get(f"/disclosures/{disclosure_id}/approval").status_code == 404
