"""A demo user signs in with a password and a TOTP code, sees their home page, signs out."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import security_code


def test_screener_signs_in_with_totp_and_signs_out(live_hub, browser_page):
    page = browser_page
    user = next(
        u
        for u in live_hub.credentials["users"]
        if u["role"] == "screener" and u["agency"] == "police"
    )
    page.goto(f"{live_hub.url}/")
    assert page.url.endswith("/sign-in")  # nothing without signing in
    page.get_by_label("Email address").fill(user["email"])
    page.get_by_label("Password", exact=True).fill(user["password"])
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(re.compile(r"/sign-in/security-code$"))
    page.get_by_label("Security code").fill(security_code(user["totp_secret"]))
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(f"{live_hub.url}/")
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text().startswith("Welcome, Demo screener")
    assert page.get_by_role("heading", name="Screening queue").is_visible()
    assert page.get_by_role("link", name="Open the screening queue").is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screener-home.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    # The answer to the sign-out form is a page of its own: wait for it to be drawn.
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    page.goto(f"{live_hub.url}/")
    assert page.url.endswith("/sign-in")


def test_wrong_code_shows_the_error_summary(live_hub, browser_page):
    page = browser_page
    user = next(u for u in live_hub.credentials["users"] if u["role"] == "mash_manager")
    page.goto(f"{live_hub.url}/sign-in")
    page.get_by_label("Email address").fill(user["email"])
    page.get_by_label("Password", exact=True).fill(user["password"])
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/sign-in/security-code$"))
    page.get_by_label("Security code").fill("000000")
    page.get_by_role("button", name="Continue").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    assert "security code is not correct" in summary.inner_text()
    # GOV.UK Frontend's JavaScript ran under the CSP: the summary has focus. (A polled
    # wait_for_function would itself be refused by the CSP: it evaluates a string.)
    expect(summary).to_be_focused()
