"""A screener checks the early-help programme criteria from the decision page: the
family's presenting issues and education's attendance figure meet three Supporting
Families outcomes; the screener records the check and sees it kept. In a real browser
against a real server, axe-core on every page."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.hub import api_call, api_token, demo_user, sign_in
from tests.functional.test_contacts_api import CONTACT


def test_a_screener_checks_and_records_the_criteria(live_hub, browser_page):
    police = api_token(live_hub, "police")
    contact = copy.deepcopy(CONTACT)
    contact["received_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    contact["presenting_issues"] = ["domestic_abuse", "debt"]
    created = api_call(f"{live_hub.url}/api/v1/contacts", "POST", contact, police)
    contact_id = created["id"]
    api_call(
        f"{live_hub.url}/api/v1/contacts/{contact_id}/rating",
        "POST",
        {"rag": "amber", "rationale": "worry about school attendance"},
        police,
    )
    sent = api_call(
        f"{live_hub.url}/api/v1/contacts/{contact_id}/requests",
        "POST",
        {"agency": "education", "question": "How is attendance?"},
        police,
    )
    api_call(
        f"{live_hub.url}/api/v1/requests/{sent['id']}/response",
        "POST",
        {
            "outcome": "information_held",
            "items": [
                {
                    "kind": "fact",
                    "text": "Attendance this year",
                    "measure": {"code": "school_attendance_percent", "value": 82},
                }
            ],
        },
        api_token(live_hub, "education", "contributions:write"),
    )

    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    page.goto(f"{live_hub.url}/contacts/{contact_id}/decision")
    page.get_by_role("link", name="Check the early-help programme criteria").click()
    page.wait_for_url(f"{live_hub.url}/contacts/{contact_id}/criteria")
    expect(page.get_by_role("heading", name="Early-help programme criteria")).to_be_visible()
    expect(page.locator("#check-inputs")).to_contain_text(
        "School attendance, as a percentage: 82 (Education)"
    )
    expect(page.get_by_text("Appears to meet the criteria")).to_be_visible()
    page.get_by_role("button", name="Record this check").click()
    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text("Criteria check recorded")
    expect(page.locator("#checks-recorded")).to_contain_text("meets the rule; 3 criteria met")
