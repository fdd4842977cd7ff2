"""A health researcher finds the request the MASH sent them under Your messages, with its
contact reference and the email to them, then turns that email off and sees the choice
saved: in a real browser against a real server, axe-core on every page."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import api_call, api_token, demo_user, sign_in
from tests.functional.test_contacts_api import CONTACT


def test_a_researcher_sees_their_messages_and_chooses_their_emails(live_hub, browser_page):
    police = api_token(live_hub, "police")
    contact = copy.deepcopy(CONTACT)
    contact["received_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    created = api_call(f"{live_hub.url}/api/v1/contacts", "POST", contact, police)
    contact_id, reference = created["id"], created["reference"]
    api_call(
        f"{live_hub.url}/api/v1/contacts/{contact_id}/rating",
        "POST",
        {"rag": "amber", "rationale": "worry about school attendance"},
        police,
    )
    sent = api_call(
        f"{live_hub.url}/api/v1/contacts/{contact_id}/requests",
        "POST",
        {"agency": "health", "question": "Any missed appointments?"},
        police,
    )

    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "health", "agency_researcher"))
    page.get_by_role("link", name="Your messages").click()
    page.wait_for_url(f"{live_hub.url}/account/messages")
    expect(page.get_by_role("heading", name="Your messages")).to_be_visible()
    table = page.locator("#messages")
    assert reference in table.inner_text()
    assert "Waiting to be sent" in table.inner_text()  # the demo runs no delivery here
    table.get_by_role("link", name="Open the information request").click()
    page.wait_for_url(f"{live_hub.url}/requests/{sent['id']}")
    page.go_back()
    page.wait_for_url(f"{live_hub.url}/account/messages")

    page.get_by_role("link", name="Choose which messages you also get by email").click()
    page.wait_for_url(f"{live_hub.url}/account/messages/email")
    choice = page.get_by_label("Information request for your agency")
    expect(choice).to_be_checked()  # email is on until the person chooses
    assert "shared MASH mailbox of the agency asked still receives these" in page.content()
    choice.uncheck()
    page.get_by_role("button", name="Save your choices").click()
    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text("Your email choices are saved")
    expect(page.get_by_label("Information request for your agency")).not_to_be_checked()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "email-choices.png"), full_page=True)
