"""The usability review's D5 and D6 in the browser, with the success banner of m2: typed
items are not lost when a researcher ticks "Not known to us", and a decision a manager
returns is flagged on the screener's queue with the reason."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.hub import api_call, api_token, demo_user, sign_in
from tests.functional.test_contacts_api import CONTACT

TYPED = "Known to the school nurse since September"
REASON = "Speak to the school before deciding"


def _rated_contact(hub, rag="red"):
    police = api_token(hub, "police")
    contact = copy.deepcopy(CONTACT)
    contact["received_at"] = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    created = api_call(f"{hub.url}/api/v1/contacts", "POST", contact, police)
    api_call(
        f"{hub.url}/api/v1/contacts/{created['id']}/rating",
        "POST",
        {"rag": rag, "rationale": "injury reported"},
        police,
    )
    return police, created["id"], created["reference"]


def test_d5_typed_items_then_not_known_asks_to_choose_and_keeps_them(live_hub, browser_page):
    police, contact_id, _reference = _rated_contact(live_hub)
    sent = api_call(
        f"{live_hub.url}/api/v1/contacts/{contact_id}/requests",
        "POST",
        {"agency": "education", "question": "Is the child known to the school?"},
        police,
    )
    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "education", "agency_researcher"))
    page.goto(f"{live_hub.url}/requests/{sent['id']}")
    page.get_by_label("First item").fill(TYPED)
    page.get_by_label("Not known to us").check()
    page.get_by_role("button", name="Send the answer").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text('Choose "Information held" to send the items')
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(page.get_by_label("First item")).to_have_value(TYPED)  # nothing lost

    page.get_by_label("Information held").check()
    page.get_by_role("button", name="Send the answer").click()
    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text("Your answer has been sent to the MASH")
    expect(banner).to_be_focused()  # GOV.UK Frontend moves focus to a success banner
    assert TYPED in page.locator("#answer-outcome + ul").inner_text()


def test_d6_a_returned_decision_is_flagged_on_the_screeners_queue(live_hub, browser_page):
    _police, contact_id, reference = _rated_contact(live_hub)
    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    page.goto(f"{live_hub.url}/contacts/{contact_id}/decision")
    page.get_by_label("Early help or step-down").check()
    page.get_by_label("Rationale").fill("The family asked for support")
    page.get_by_role("button", name="Send for approval").click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("Decision proposed")

    other = page.context.browser.new_context()
    manager = other.new_page()
    manager.set_default_timeout(15_000)
    sign_in(manager, live_hub, demo_user(live_hub, "csc", "mash_manager"))
    manager.goto(f"{live_hub.url}/contacts/{contact_id}/decision")
    manager.get_by_label("Return it to the screener").check()
    manager.get_by_label("Reason for returning it").fill(REASON)
    manager.get_by_role("button", name="Record the sign-off").click()
    expect(manager.locator(".govuk-notification-banner--success")).to_contain_text(
        "Decision returned to the screener"
    )
    other.close()

    page.goto(f"{live_hub.url}/queue")
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row.locator(".govuk-tag", has_text="Returned")).to_be_visible()
    expect(row).to_contain_text(REASON)
    page.goto(f"{live_hub.url}/")
    expect(page.get_by_role("columnheader", name="Decisions returned to you")).to_be_visible()
