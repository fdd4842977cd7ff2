"""Step-down from intake to the receiving service's acceptance: a screener records a
contact, rates it Green and proposes early help; a MASH manager approves it with the reason
for the referral; Early Help Family Support's team member opens the referral from their
referrals, sees the family and the reason (never the concern), and accepts it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from mash_hub.config import load_settings
from mash_hub.deadlines import WorkingCalendar
from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import demo_user, fill_date, sign_in
from tests.conftest import TEST_ENV

CONCERN = "School reports the children arrive late and hungry most mornings."
REASON = "Parents asked for help with morning routines; they agree to an early help offer."


def test_a_family_is_stepped_down_and_early_help_accepts_the_referral(live_hub, browser_page):
    page = browser_page
    calendar = WorkingCalendar.from_settings(load_settings(None, TEST_ENV).calendar)
    received = (datetime.now(UTC) - timedelta(minutes=5)).astimezone(calendar.zone)

    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    page.get_by_role("link", name="Record a contact").click()
    fill_date(page, "Date received", received.strftime("%d/%m/%Y"))
    page.get_by_label("Time received").fill(received.strftime("%H:%M"))
    page.get_by_label("An agency of the hub").check()
    page.get_by_label("Source agency").select_option("education")
    page.get_by_label("Referrer's name").fill("Ms Priya Shah")
    page.get_by_label("The concern").fill(CONCERN)
    page.get_by_label("Poor or inconsistent parenting", exact=True).check()
    page.get_by_label("Given", exact=True).check()
    page.get_by_label("Role", exact=True).select_option("child")
    page.get_by_label("Given name").fill("Lily")
    page.get_by_label("Family name").fill("Okafor")
    fill_date(page, "Date of birth (optional)", "14/09/2017")
    page.get_by_label("Address (optional)", exact=True).fill("22 Elm Road, Brent")
    page.get_by_role("button", name="Record the contact").click()
    page.wait_for_url(re.compile(r"/contacts/[0-9a-f-]{36}$"))
    reference = page.get_by_role("heading", level=1).inner_text()
    contact_url = page.url

    page.get_by_role("link", name="Rate this contact").click()
    page.get_by_label("Green").check()
    page.get_by_label("Why this rating?").fill("Lower-level need: no multi-agency checks needed")
    page.get_by_role("button", name="Save the rating").click()
    page.locator("#rating-history").wait_for()
    page.get_by_role("link", name="Back to the contact").click()
    page.get_by_role("link", name="Decision and sign-off").click()
    page.wait_for_url(re.compile(r"/decision$"))
    page.get_by_label("Early help or step-down").check()
    page.get_by_label("Rationale").fill("Needs sit below statutory thresholds; early help fits")
    page.get_by_role("button", name="Send for approval").click()
    page.get_by_text("This outcome is waiting for a MASH manager's approval").wait_for()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_hub, demo_user(live_hub, "csc", "mash_manager"))
    page.get_by_role("link", name="Screening queue").click()
    page.locator("#awaiting-approval").get_by_role("link", name=reference).click()
    page.wait_for_url(re.compile(r"/decision$"))
    page.get_by_label("Approve", exact=True).check()
    # Approving without the reason for the service is refused, with the error summary.
    page.get_by_role("button", name="Record the sign-off").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    assert "reason for the referral to Early Help Family Support" in summary.inner_text()
    page.get_by_label("Approve", exact=True).check()
    page.get_by_label("Reason for the referral to Early Help Family Support").fill(REASON)
    page.get_by_role("button", name="Record the sign-off").click()
    banner = page.locator("#confirmation")
    expect(banner).to_be_visible()
    assert "referred to Early Help Family Support" in banner.inner_text()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_hub, demo_user(live_hub, "earlyhelp", "agency_researcher"))
    assert "Families referred to Early Help Family Support" in page.locator("main").inner_text()
    page.get_by_role("link", name="Referrals", exact=True).click()
    page.wait_for_url(re.compile(r"/referrals$"))
    page.locator("#referrals").get_by_role("link", name=reference).click()
    page.wait_for_url(re.compile(r"/referrals/[0-9a-f-]{36}$"))
    assert REASON in page.locator("#referral-reason").inner_text()
    assert "Lily Okafor" in page.locator("#family").inner_text()
    assert CONCERN not in page.content()
    page.get_by_label("Accept it").check()
    page.get_by_role("button", name="Record the decision").click()
    banner = page.locator("#confirmation")
    expect(banner).to_be_visible()
    assert f"Referral {reference} accepted" in banner.inner_text()
    assert "Accepted" in page.locator("#referral-summary").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "early-help-accepted-referral.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()

    # The MASH sees the service's decision on the contact (a colleague who has not signed in
    # yet: a security code is accepted once).
    sign_in(page, live_hub, demo_user(live_hub, "csc", "screener"))
    page.goto(contact_url)
    referral = page.locator("#referral-earlyhelp")
    expect(referral).to_be_visible()
    assert "Accepted" in referral.inner_text()
    assert REASON in referral.inner_text()
