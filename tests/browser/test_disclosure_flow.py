"""A MASH manager discloses information out of the MASH in the browser, against a live
hub: health's restricted item waits for health's governance lead to approve it, then a
fresh security code completes the disclosure and the print view holds the record."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, check_accessibility
from tests.browser.hub import api_call, api_token, demo_user, security_code, sign_in
from tests.functional.test_contacts_api import CONTACT


def test_manager_makes_a_disclosure(live_hub, browser_page, axe_findings):
    police = api_token(live_hub, "police")
    contact = copy.deepcopy(CONTACT)
    contact["received_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    contact_id = api_call(f"{live_hub.url}/api/v1/contacts", "POST", contact, police)["id"]
    api_call(
        f"{live_hub.url}/api/v1/contacts/{contact_id}/rating",
        "POST",
        {"rag": "red", "rationale": "injury reported"},
        police,
    )
    sent = api_call(
        f"{live_hub.url}/api/v1/contacts/{contact_id}/requests",
        "POST",
        {"agency": "health", "question": "Any A&E attendances this year?"},
        police,
    )
    api_call(
        f"{live_hub.url}/api/v1/requests/{sent['id']}/response",
        "POST",
        {
            "outcome": "information_held",
            "items": [
                {"kind": "fact", "text": "Attended A&E in March with a wrist injury"},
                {"kind": "opinion", "text": "Named nurse is worried", "restricted": True},
            ],
        },
        api_token(live_hub, "health", "contributions:write"),
    )

    manager = demo_user(live_hub, "csc", "mash_manager")
    page = browser_page
    sign_in(page, live_hub, manager)
    page.goto(f"{live_hub.url}/contacts/{contact_id}")
    page.get_by_role("link", name="Make a disclosure").click()
    page.get_by_label(re.compile("An organisation outside the hub")).check()
    page.get_by_label("Recipient organisation").fill("Northshire Family Court")
    page.get_by_label("Named person or role receiving it").fill("Clerk to the Justices")
    page.get_by_label("Purpose of the disclosure").fill("Care proceedings for the child")
    page.get_by_label(re.compile("wrist injury")).check()
    page.get_by_label(re.compile("Named nurse is worried")).check()
    page.get_by_role("button", name="Continue").click()
    # The lawful bases of the MASH's own agreement, each once (usability review m10).
    expect(page.get_by_role("heading", name="Choose the lawful basis")).to_be_visible()
    assert page.locator("input[name=lawful_basis]").count() <= 8
    page.locator("input[name=lawful_basis]").first.check()
    page.get_by_role("button", name="Record the disclosure").click()
    expect(page.locator("#disclosure-status")).to_have_text(re.compile("Awaiting approval"))
    disclosure_url = page.url

    # Health's governance lead approves releasing health's restricted item.
    lead_context = page.context.browser.new_context()
    check_accessibility(lead_context, axe_findings)  # the lead's pages are checked too
    lead_page = lead_context.new_page()
    lead_page.set_default_timeout(15_000)
    sign_in(lead_page, live_hub, demo_user(live_hub, "health", "governance_lead"))
    lead_page.goto(f"{live_hub.url}/disclosures/approvals")
    lead_page.get_by_role("link", name=re.compile("DISC-")).first.click()
    # What they are asked to release, their own agency's item only (usability review D10).
    expect(lead_page.locator("#own-restricted-items")).to_contain_text("Named nurse is worried")
    assert "wrist injury" not in lead_page.content()
    lead_page.get_by_label("Yes, approve the release").check()
    lead_page.get_by_role("button", name="Record the decision").click()
    expect(lead_page.get_by_text("No disclosure is waiting")).to_be_visible()
    lead_context.close()

    page.goto(disclosure_url)
    expect(page.locator("#disclosure-status")).to_have_text(re.compile("Ready"))
    # The code used to sign in is spent: the authenticator's next one completes it.
    page.get_by_label("Security code").fill(
        security_code(manager["totp_secret"], timedelta(seconds=30))
    )
    page.get_by_role("button", name="Complete the disclosure").click()
    expect(page.locator("#disclosure-status")).to_have_text(re.compile("Completed"))
    page.get_by_role("link", name="Print view").click()
    expect(
        page.get_by_role("heading", name=re.compile("Record of disclosure DISC-"))
    ).to_be_visible()
    printed = page.content()
    for shown in (
        "Northshire Family Court",
        "Clerk to the Justices",
        "Care proceedings for the child",
        "wrist injury",
        "Named nurse is worried",
        "Approved by",
    ):
        assert shown in printed
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "disclosure-printed.png"), full_page=True)
