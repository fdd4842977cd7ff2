"""A screener records a contact with its presenting issues and a child's equality
information on the intake page, is first told in the error summary that a presenting
issue is needed, and finds both on the contact page: in a real browser against a real
server, axe-core on every page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from mash_hub.uktime import uk
from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import demo_user, fill_date, sign_in


def test_a_screener_records_presenting_issues_and_equality_information(live_hub, browser_page):
    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    received = uk(datetime.now(UTC) - timedelta(minutes=5))

    page.goto(f"{live_hub.url}/contacts/new")
    fill_date(page, "Date received", received.strftime("%d/%m/%Y"))
    page.get_by_label("Time received").fill(received.strftime("%H:%M"))
    page.get_by_label("An agency of the hub").check()
    page.get_by_label("Source agency").select_option("education")
    page.get_by_label("Referrer's name").fill("Head of year")
    page.get_by_label("The concern").fill("The child says a parent hits them when drunk.")
    page.get_by_label("Given", exact=True).check()
    page.get_by_label("Role", exact=True).select_option("child")
    page.get_by_label("Given name").fill("Rae")
    page.get_by_label("Family name").fill("Okafor")

    # No presenting issue: the summary says so and links to the checkboxes.
    page.get_by_role("button", name="Record the contact").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Select at least one presenting issue")
    summary.get_by_role("link", name=re.compile("presenting issue")).click()
    expect(page.get_by_label("Domestic abuse", exact=True)).to_be_focused()

    issues = page.get_by_role("group", name="Presenting issues")
    issues.get_by_label("Physical abuse", exact=True).check()
    issues.get_by_label("Drug or alcohol misuse in the family", exact=True).check()
    page.get_by_role("heading", name="Equality information (optional)").scroll_into_view_if_needed()
    page.get_by_role("group", name="Sex (optional)").get_by_label("Female").check()
    page.get_by_label("Ethnic group (optional)").select_option("black_african")
    page.get_by_role("group", name="Does the person have a disability? (optional)").get_by_label(
        "Prefer not to say"
    ).check()
    page.get_by_label("First language (optional)").fill("Yoruba")
    page.get_by_role("button", name="Record the contact").click()
    page.wait_for_url(re.compile(r"/contacts/[0-9a-f-]{36}$"))

    listed = page.locator("#presenting-issues").inner_text()
    assert listed.splitlines() == ["Physical abuse", "Drug or alcohol misuse in the family"]
    row = page.locator("#equality").get_by_role("row", name=re.compile("Rae Okafor"))
    for shown in (
        "Female",
        "Black, Black British, Black Welsh, Caribbean or African: African",
        "Prefer not to say",
        "Yoruba",
    ):
        expect(row).to_contain_text(shown)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "presenting-issues.png"), full_page=True)
