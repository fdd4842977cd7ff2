"""A governance lead records a suspected personal data breach, sees its two clocks in UK
time, decides it is not reportable, and the lead of the agency whose data it concerns
finds it on their home page: in a real browser against a real server, axe-core on every
page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mash_hub.uktime import uk
from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import demo_user, sign_in


def test_a_lead_records_a_breach_and_the_concerned_agency_sees_it(live_hub, browser_page):
    page = browser_page
    lead = demo_user(live_hub, "csc", "governance_lead")
    sign_in(page, live_hub, lead)

    page.get_by_role("link", name="Governance", exact=True).first.click()
    page.get_by_role("link", name="Breaches", exact=True).click()
    page.wait_for_url(f"{live_hub.url}/governance/breaches")
    page.get_by_role("button", name="Record a breach").click()

    # Nothing filled in: the error summary names what is missing, and nothing is kept.
    page.get_by_role("button", name="Record the breach").click()
    summary = page.locator(".govuk-error-summary")
    assert "Enter the date and time it was discovered" in summary.inner_text()

    discovered = uk(datetime.now(UTC) - timedelta(hours=2))
    page.get_by_label("What happened?").fill("A referral list was emailed to the wrong school.")
    page.get_by_label("How was it discovered, and by whom?").fill("The school phoned the MASH.")
    page.get_by_label("Date discovered").fill(discovered.strftime("%d/%m/%Y"))
    page.get_by_label("Time discovered").fill(discovered.strftime("%H:%M"))
    page.get_by_role("group", name="Whose data does it concern?").get_by_label("Health").check()
    page.get_by_label("Contacts and their concerns").check()
    page.get_by_label("Children", exact=True).check()
    page.get_by_label("About how many people? (optional)").fill("3")
    page.get_by_role("button", name="Record the breach").click()
    page.wait_for_url(re.compile(r"/governance/breaches/[0-9a-f-]{36}$"))

    banner = page.locator(".govuk-notification-banner")
    assert "recorded" in banner.inner_text() and "Tell the other parties by" in banner.inner_text()
    clocks = page.locator("#clocks").inner_text()
    assert "Tell the other parties" in clocks and "Report to the Information Commissioner" in clocks
    assert "hours left" in clocks
    parties = page.locator("#parties").inner_text()
    assert "Health" in parties and "Police (Public Protection Desk)" in parties
    reference = page.locator("h1").inner_text().removeprefix("Breach ")

    page.get_by_role("link", name="Decide whether to report it to the ICO").click()
    page.get_by_label("No, it is unlikely to result in a risk to people's rights").check()
    page.get_by_label("Reasons for the decision").fill("The attachment was encrypted.")
    page.get_by_role("button", name="Record the decision").click()
    page.wait_for_url(re.compile(r"/governance/breaches/[0-9a-f-]{36}$"))
    assert "Decision recorded" in page.locator(".govuk-notification-banner").inner_text()
    assert "Decided not reportable on" in page.locator("#clocks").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "breach.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    health = demo_user(live_hub, "health", "governance_lead")
    sign_in(page, live_hub, health)
    section = page.locator("#home-breaches")
    assert reference in section.inner_text()
    section.get_by_role("link", name=f"Breach {reference}").click()
    assert page.locator("h1").inner_text() == f"Breach {reference}"
