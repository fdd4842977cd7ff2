"""A governance lead searches the audit, opens a chart's figures and exports the search as
CSV with a fresh security code, in a real browser against a real server."""

from __future__ import annotations

import copy
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import api_call, api_token, demo_user, security_code, sign_in
from tests.functional.test_contacts_api import CONTACT


def test_governance_lead_searches_opens_a_chart_and_exports_csv(live_hub, browser_page):
    page = browser_page
    lead = demo_user(live_hub, "csc", "governance_lead")
    sign_in(page, live_hub, lead)

    page.get_by_role("link", name="Governance", exact=True).first.click()
    page.wait_for_url(f"{live_hub.url}/governance")
    chart = page.locator("svg.hub-chart").first
    assert chart.is_visible()
    page.get_by_text("Accesses allowed per day by agency, last 14 days as a table").click()
    table = page.locator("details[open] table")
    assert table.is_visible()
    assert table.locator("tbody tr").count() == 14

    page.get_by_role("link", name="Search the audit").click()
    page.get_by_label("Action").select_option("audit:read")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/governance/audit\?"))
    rows = page.locator("table.hub-audit-table tbody tr")
    assert rows.count() >= 2  # the overview and this search, each audited
    assert "audit:read" in rows.first.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "governance-search.png"), full_page=True)

    page.get_by_role("link", name="Export this search as CSV").click()
    page.get_by_label("Security code").fill("000000")
    page.get_by_role("button", name="Download CSV").click()
    assert "security code is not correct" in page.locator(".govuk-error-summary").inner_text()

    # A code from the next time step: the one used to sign in cannot be used again.
    page.get_by_label("Security code").fill(
        security_code(lead["totp_secret"], timedelta(seconds=30))
    )
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(r"audit-csc-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    text = Path(download.path()).read_text(encoding="utf-8")
    table_rows = list(csv.DictReader(io.StringIO(text)))
    assert table_rows
    assert {row["action"] for row in table_rows} == {"audit:read"}
    assert {row["agency"] for row in table_rows} == {"csc"}


def test_d9_a_lead_finds_who_accessed_a_child_by_nhs_number(live_hub, browser_page):
    police = api_token(live_hub, "police")
    contact = copy.deepcopy(CONTACT)
    contact["received_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    contact["subjects"][0]["nhs_number"] = "401 023 2137"
    api_call(f"{live_hub.url}/api/v1/contacts", "POST", contact, police)

    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "csc", "governance_lead"))
    page.get_by_role("link", name="Governance", exact=True).first.click()
    page.get_by_role("link", name="Who accessed this child").click()
    page.get_by_role("button", name="Find the child").click()
    assert (
        "NHS number, or their name and date of birth"
        in page.locator(".govuk-error-summary").inner_text()
    )
    page.get_by_label("NHS number").fill("401 023 2137")
    page.get_by_role("button", name="Find the child").click()
    assert "names this child" in page.locator("#child-found").inner_text()
    # The summary comes first: by agency, then by person, then the events.
    assert "Police (Public Protection Desk)" in page.locator("#by-agency").inner_text()
    assert page.locator("#by-person tbody tr").count() >= 1
    assert page.locator("table.hub-audit-table tbody tr").count() >= 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "who-accessed-child.png"), full_page=True)
