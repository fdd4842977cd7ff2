"""A screener corrects a child's date of birth and adds a sibling found by checks, from
the contact page; each lands in the contact's Amendments history (#13, usability review
D8). axe-core checks every page on the way, the error summary included."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import api_call, api_token, demo_user, sign_in
from tests.functional.test_contacts_api import CONTACT


def test_screener_corrects_a_childs_birth_date_and_adds_a_sibling(live_hub, browser_page):
    page = browser_page
    contact = copy.deepcopy(CONTACT)
    contact["received_at"] = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    police = api_token(live_hub, "police")
    contact_id = api_call(f"{live_hub.url}/api/v1/contacts", "POST", contact, police)["id"]

    sign_in(page, live_hub, demo_user(live_hub, "csc", "screener"))
    page.goto(f"{live_hub.url}/contacts/{contact_id}")
    reference = page.get_by_role("heading", level=1).inner_text()
    expect(page.locator("#amendments + .govuk-inset-text")).to_contain_text("Nothing has been")

    # The child's year of birth was typed wrongly: 2015 for 2016.
    page.get_by_role("link", name="Correct details of Sam Smith").click()
    page.wait_for_url(re.compile(r"/amend/people/[0-9a-f-]{36}$"))
    expect(page.get_by_label("Date of birth (optional)")).to_have_value("02/04/2015")
    page.get_by_label("Date of birth (optional)").fill("02/04/2016")
    page.get_by_label("Why are you correcting these details?").fill(
        "The school's admission record gives 2016"
    )
    page.get_by_role("button", name="Save the correction").click()
    page.wait_for_url(re.compile(rf"/contacts/{contact_id}#amendments$"))
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        f"Details corrected on {reference}"
    )
    history = page.locator("#amendment-history")
    expect(history).to_contain_text("Date of birth: 2 April 2015 changed to 2 April 2016")
    expect(history).to_contain_text("The school's admission record gives 2016")

    # Adding a person with nothing filled in: the error summary, focused, lists each field.
    page.get_by_role("link", name="Add a person").click()
    page.wait_for_url(re.compile(r"/amend/add-person$"))
    page.get_by_role("button", name="Add the person").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Select the person's role")
    expect(summary).to_contain_text("Enter the person's given name")
    expect(summary).to_contain_text("Enter why this person is being added")
    assert page.title().startswith("Error: ")

    page.get_by_label("Role", exact=True).select_option("sibling")
    page.get_by_label("Given name").fill("Ruby")
    page.get_by_label("Family name").fill("Smith")
    page.get_by_label("Date of birth (optional)").fill("14/08/2018")
    page.get_by_label("Address (optional)", exact=True).fill("1 High St, Brent")
    page.get_by_label("How was this person found, and why add them?").fill(
        "The school named a younger sister at the same address"
    )
    page.get_by_role("button", name="Add the person").click()
    page.wait_for_url(re.compile(rf"/contacts/{contact_id}#amendments$"))
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        f"Person added to {reference}"
    )
    expect(history).to_contain_text("Added Ruby Smith (sibling)")
    rows = history.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Children's social care")
    people = page.get_by_role("table", name="People named in this contact")
    expect(people).to_contain_text("Ruby Smith")
    expect(people).to_contain_text("2 April 2016")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "contact-amended.png"), full_page=True)
