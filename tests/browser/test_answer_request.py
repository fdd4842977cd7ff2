"""A health researcher answers an information request in the browser, against a live hub
(gunicorn workers, the real clock, the demo's users and API clients)."""

from __future__ import annotations

import base64
import copy
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from mash_hub.identity import services as identity
from tests.browser.conftest import ARTIFACTS
from tests.functional.test_contacts_api import CONTACT


def _call(url: str, method: str, body: dict | None = None, headers: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the live hub on localhost
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def _token(hub, agency: str) -> dict:
    client = next(
        c
        for c in hub.credentials["clients"]
        if c["agency"] == agency and "screening:write" in c["scopes"]
    )
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310
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


def test_health_researcher_answers_a_request(live_hub, browser_page):
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

    user = next(
        u
        for u in live_hub.credentials["users"]
        if u["role"] == "agency_researcher" and u["agency"] == "health"
    )
    page = browser_page
    page.goto(f"{live_hub.url}/sign-in")
    page.get_by_label("Email address").fill(user["email"])
    page.get_by_label("Password", exact=True).fill(user["password"])
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/sign-in/security-code$"))
    code = identity.totp_code(base64.b32decode(user["totp_secret"]), datetime.now(UTC))
    page.get_by_label("Security code").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{live_hub.url}/")

    page.get_by_role("link", name="Requests").first.click()
    page.wait_for_url(f"{live_hub.url}/requests")
    page.get_by_role("link", name=f"Request {sent['id'][:8]}").click()
    assert "Any A&E attendances this year?" in page.locator("#question").inner_text()
    assert "Sam Smith" in page.locator("#subjects").inner_text()
    assert "Neighbour reports" not in page.content()  # never the concern
    page.get_by_label("Information held").check()
    page.get_by_label("First item").fill("Attended A&E in March with a wrist injury")
    page.get_by_role("button", name="Send the answer").click()
    # The answer page comes back after the redirect: wait for it (is_visible does not).
    expect(page.get_by_role("heading", name="Your agency's answer")).to_be_visible()
    assert "wrist injury" in page.locator("#answer-outcome + ul").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "researcher-answered.png"), full_page=True)
    page.goto(f"{live_hub.url}/requests")
    expect(page.get_by_text("There are no open requests for your agency.")).to_be_visible()
