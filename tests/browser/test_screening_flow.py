"""A screener records a contact on the intake page, rates it Amber and sees the decision
deadline, proposes an outcome; a MASH manager approves it from the queue."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from mash_hub import uktime
from mash_hub.config import load_settings
from mash_hub.deadlines import WorkingCalendar, deadline_for
from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import api_call, api_token, demo_user, fill_date, sign_in
from tests.conftest import TEST_ENV
from tests.functional.test_contacts_api import CONTACT


def test_screener_records_rates_and_proposes_and_a_manager_approves(live_hub, browser_page):
    page = browser_page
    settings = load_settings(None, TEST_ENV)
    calendar = WorkingCalendar.from_settings(settings.calendar)
    received = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    local = received.astimezone(calendar.zone)

    # Sam Smith was the subject of a contact an hour ago, now on the person register.
    earlier = copy.deepcopy(CONTACT)
    earlier["received_at"] = (received - timedelta(hours=1)).isoformat()
    police = api_token(live_hub, "police")
    earlier_id = api_call(f"{live_hub.url}/api/v1/contacts", "POST", earlier, police)["id"]

    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    page.goto(f"{live_hub.url}/contacts/{earlier_id}")
    earlier_reference = page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("button", name=re.compile(r"Add Sam Smith as a new person")).click()
    page.wait_for_url(re.compile(rf"/contacts/{earlier_id}"))

    page.get_by_role("link", name="Record a contact").click()
    fill_date(page, "Date received", local.strftime("%d/%m/%Y"))
    page.get_by_label("Time received").fill(local.strftime("%H:%M"))
    page.get_by_label("An agency of the hub").check()
    page.get_by_label("Source agency").select_option("police")
    page.get_by_label("Referrer's name").fill("PC Ada Jones")
    page.get_by_label("Referrer's role (optional)").fill("PPD officer")
    page.get_by_label("The concern").fill("Neighbour reports shouting and a child crying.")
    page.get_by_label("Domestic abuse", exact=True).check()
    # The reason is asked for only when consent was refused or not sought (review m25).
    reason = page.locator("#consent-reason-group")
    expect(reason).to_be_hidden()
    page.get_by_label("Given", exact=True).check()
    expect(reason).to_be_hidden()
    page.get_by_label("Not sought").check()
    expect(reason).to_be_visible()
    page.get_by_label("Why are you going ahead without consent?").fill("Risk of significant harm")
    page.get_by_label("Role", exact=True).select_option("child")
    page.get_by_label("Given name").fill("Sam")
    page.get_by_label("Family name").fill("Smith")
    fill_date(page, "Date of birth (optional)", "02/04/2015")
    page.get_by_label("Address (optional)", exact=True).fill("1 High St, Brent")
    page.get_by_label("NHS number (optional)").fill("943 476 5919")
    page.get_by_role("button", name="Record the contact").click()
    page.wait_for_url(re.compile(r"/contacts/[0-9a-f-]{36}$"))
    reference = page.get_by_role("heading", level=1).inner_text()
    assert re.fullmatch(r"MASH-\d{4}-\d{6}", reference)
    assert "Sam Smith" in page.content()

    # The register offers the earlier Sam Smith; once linked, the repeat-contact warning
    # and the chronology with the earlier contact appear.
    page.get_by_role("button", name=re.compile(r"^Link Sam Smith to ")).first.click()
    warning = page.locator(".hub-repeat-warning").first
    expect(warning).to_be_visible()
    assert "Repeat contact" in warning.inner_text()
    assert earlier_reference in page.locator("main").inner_text()
    page.get_by_role("link", name=reference, exact=True).click()  # back to the contact
    page.wait_for_url(re.compile(r"/contacts/[0-9a-f-]{36}$"))
    expect(page.locator(".hub-repeat-warning").first).to_be_visible()
    assert earlier_reference in page.locator("#people-register").inner_text()
    page.screenshot(path=str(ARTIFACTS / "repeat-contact-warning.png"), full_page=True)

    page.get_by_role("link", name="Rate this contact").click()
    page.wait_for_url(re.compile(r"/rating$"))
    page.get_by_label("Amber").check()
    page.get_by_label("Why this rating?").fill("Possible significant harm: partner checks needed")
    page.get_by_role("button", name="Save the rating").click()
    page.locator("#rating-history").wait_for()
    due = deadline_for(
        "amber",
        received,
        settings.timescales,
        calendar,
        settings.calendar.red_counts_outside_working_hours,
    )
    deadline = page.locator("#deadline").inner_text()
    assert uktime.when(due) in deadline  # in UK time, as the form was filled in
    assert "left" in deadline
    assert "Possible significant harm" in page.locator("#rating-history").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screener-rated-amber.png"), full_page=True)

    page.get_by_role("link", name="Back to the contact").click()
    page.get_by_role("link", name="Decision and sign-off").click()
    page.wait_for_url(re.compile(r"/decision$"))
    page.get_by_label("Child and family assessment (s17)").check()
    page.get_by_label("Rationale").fill("Concerns need a full assessment")
    page.get_by_role("button", name="Send for approval").click()
    page.get_by_text("This outcome is waiting for a MASH manager's approval").wait_for()
    assert "Awaiting approval" in page.locator("#decision-history").inner_text()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_hub, demo_user(live_hub, "csc", "mash_manager"))
    page.get_by_role("link", name="Screening queue").click()
    page.wait_for_url(re.compile(r"/queue$"))
    approvals = page.locator("#awaiting-approval")
    assert "Child and family assessment (s17)" in approvals.inner_text()
    approvals.get_by_role("link", name=reference).click()
    page.wait_for_url(re.compile(r"/decision$"))
    page.get_by_label("Approve", exact=True).check()
    page.get_by_role("button", name="Record the sign-off").click()
    page.get_by_role("heading", name="Tell the referrer").wait_for()
    assert "Approved" in page.locator("#decision-history").inner_text()
    assert "Tell the referrer the outcome by" in page.locator("#acknowledgement-due").inner_text()
    page.screenshot(path=str(ARTIFACTS / "manager-approved-decision.png"), full_page=True)
