"""A MASH manager discloses information out of the MASH in the browser, against a live
hub: health's restricted item waits for health's governance lead to approve it, then a
fresh security code completes the disclosure and the print view holds the record."""

from __future__ import annotations

import base64
import copy
import json
import re
import time
import urllib.request
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from mash_hub.identity import services as identity
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_answer_request import _call, _token
from tests.functional.test_contacts_api import CONTACT

TOTP_STEP = 30


def _health_token(hub) -> dict:
    client = next(
        c
        for c in hub.credentials["clients"]
        if c["agency"] == "health" and "contributions:write" in c["scopes"]
    )
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the live hub on localhost
        f"{hub.url}/oauth/token",
        data=b"grant_type=client_credentials",
        method="POST",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return {"Authorization": f"Bearer {json.loads(response.read())['access_token']}"}


def _user(hub, role: str, agency: str | None = None) -> dict:
    return next(
        u
        for u in hub.credentials["users"]
        if u["role"] == role and (agency is None or u["agency"] == agency)
    )


def _code(user: dict) -> str:
    return identity.totp_code(base64.b32decode(user["totp_secret"]), datetime.now(UTC))


def _sign_in(page: Page, hub, user: dict) -> None:
    page.goto(f"{hub.url}/sign-in")
    page.get_by_label("Email address").fill(user["email"])
    page.get_by_label("Password", exact=True).fill(user["password"])
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/sign-in/security-code$"))
    page.get_by_label("Security code").fill(_code(user))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{hub.url}/")


def _next_time_step() -> None:
    """A code is accepted once: wait for the authenticator's next code."""
    time.sleep(TOTP_STEP - time.time() % TOTP_STEP + 1)


def test_manager_makes_a_disclosure(live_hub, browser_page):
    police = _token(live_hub, "police")
    contact = copy.deepcopy(CONTACT)
    contact["received_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    contact_id = _call(f"{live_hub.url}/api/v1/contacts", "POST", contact, police)["id"]
    _call(
        f"{live_hub.url}/api/v1/contacts/{contact_id}/rating",
        "POST",
        {"rag": "red", "rationale": "injury reported"},
        police,
    )
    sent = _call(
        f"{live_hub.url}/api/v1/contacts/{contact_id}/requests",
        "POST",
        {"agency": "health", "question": "Any A&E attendances this year?"},
        police,
    )
    _call(
        f"{live_hub.url}/api/v1/requests/{sent['id']}/response",
        "POST",
        {
            "outcome": "information_held",
            "items": [
                {"kind": "fact", "text": "Attended A&E in March with a wrist injury"},
                {"kind": "opinion", "text": "Named nurse is worried", "restricted": True},
            ],
        },
        _health_token(live_hub),
    )

    manager = _user(live_hub, "mash_manager")
    page = browser_page
    _sign_in(page, live_hub, manager)
    page.goto(f"{live_hub.url}/contacts/{contact_id}")
    page.get_by_role("link", name="Make a disclosure").click()
    page.get_by_label("Recipient organisation").fill("Northshire Family Court")
    page.get_by_label("Named person or role receiving it").fill("Clerk to the Justices")
    page.get_by_label("Purpose of the disclosure").fill("Care proceedings for the child")
    page.locator("input[name=lawful_basis]").first.check()
    page.get_by_label(re.compile("wrist injury")).check()
    page.get_by_label(re.compile("Named nurse is worried")).check()
    page.get_by_role("button", name="Record the disclosure").click()
    expect(page.locator("#disclosure-status")).to_have_text(re.compile("Awaiting approval"))
    disclosure_url = page.url

    # Health's governance lead approves releasing health's restricted item.
    lead_context = page.context.browser.new_context()
    lead_page = lead_context.new_page()
    lead_page.set_default_timeout(15_000)
    _sign_in(lead_page, live_hub, _user(live_hub, "governance_lead", "health"))
    lead_page.goto(f"{live_hub.url}/disclosures/approvals")
    lead_page.get_by_role("link", name=re.compile("DISC-")).first.click()
    assert "Named nurse is worried" not in lead_page.content()
    lead_page.get_by_label("Yes, approve the release").check()
    lead_page.get_by_role("button", name="Record the decision").click()
    expect(lead_page.get_by_text("No disclosure is waiting")).to_be_visible()
    lead_context.close()

    page.goto(disclosure_url)
    expect(page.locator("#disclosure-status")).to_have_text(re.compile("Ready"))
    _next_time_step()
    page.get_by_label("Security code").fill(_code(manager))
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
