"""A health researcher answers an information request in the browser, against a live hub
(gunicorn workers, the real clock, the demo's users and API clients)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import api_call, api_token, demo_user, sign_in
from tests.functional.test_contacts_api import CONTACT


def test_health_researcher_answers_a_request(live_hub, browser_page):
    police = api_token(live_hub, "police")
    contact = copy.deepcopy(CONTACT)
    contact["received_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    created = api_call(f"{live_hub.url}/api/v1/contacts", "POST", contact, police)
    contact_id, reference = created["id"], created["reference"]
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

    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "health", "agency_researcher"))

    page.get_by_role("link", name="Requests").first.click()
    page.wait_for_url(f"{live_hub.url}/requests")
    # Named by the contact's reference, which the researcher can quote to the MASH (m9).
    page.get_by_role("link", name=reference).click()
    page.wait_for_url(f"{live_hub.url}/requests/{sent['id']}")
    assert reference in page.locator("#contact-reference").inner_text()
    assert "Any A&E attendances this year?" in page.locator("#question").inner_text()
    assert "Sam Smith" in page.locator("#subjects").inner_text()
    assert "Neighbour reports" not in page.content()  # never the concern
    page.get_by_label("Information held").check()
    page.get_by_label("First item").fill("Attended A&E in March with a wrist injury")
    # An item may carry a measure: its value without a measure is explained, not lost.
    page.get_by_label("Value of the measure in item 2").fill("82")
    page.get_by_label("Second item").fill("School nurse notes on attendance this year")
    page.get_by_role("button", name="Send the answer").click()
    summary = page.locator(".govuk-error-summary").inner_text()
    assert "Choose the measure of the second item's value, or clear the value" in summary
    page.get_by_label("Measure in item 2 (optional)").select_option(
        label="School attendance, as a percentage"
    )
    page.get_by_role("button", name="Send the answer").click()
    # The answer page comes back after the redirect: wait for it (is_visible does not).
    expect(page.get_by_role("heading", name="Your agency's answer")).to_be_visible()
    assert "wrist injury" in page.locator("#answer-outcome + ul").inner_text()
    assert (
        "School attendance, as a percentage: 82"
        in page.locator("#answer-outcome + ul").inner_text()
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "researcher-answered.png"), full_page=True)

    # A slip is corrected before the due time; the earlier answer stays, with the reason.
    page.get_by_role("link", name="Correct your answer").click()
    assert (
        page.get_by_label("First item").input_value() == "Attended A&E in March with a wrist injury"
    )
    assert page.get_by_label("Value of the measure in item 2").input_value() == "82"
    page.get_by_label("First item").fill("Attended A&E in May with a wrist injury")
    page.get_by_role("button", name="Send the corrected answer").click()
    assert (
        "Enter why you are correcting the answer"
        in page.locator(".govuk-error-summary").inner_text()
    )
    page.get_by_label("Why are you correcting the answer?").fill("The month was wrong")
    page.get_by_role("button", name="Send the corrected answer").click()
    expect(page.get_by_role("heading", name="Your agency's answer")).to_be_visible()
    assert "May" in page.locator("#answer-outcome + ul").inner_text()
    page.get_by_text("Earlier answers (1)").click()
    earlier = page.locator("details.govuk-details").inner_text()
    assert "The month was wrong" in earlier and "in March" in earlier
    page.goto(f"{live_hub.url}/requests")
    expect(page.get_by_text("There are no open requests for your agency.")).to_be_visible()
