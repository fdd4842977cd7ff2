"""A MASH manager opens the MASH's performance reports from the home page, changes the
range and period, meets the error summary for a range that ends before it starts, and
downloads the CSV: in a real browser against a real server, axe-core on every page."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.browser.conftest import ARTIFACTS
from tests.browser.hub import demo_user, sign_in


def test_a_manager_reads_the_reports_and_downloads_them(live_hub, browser_page):
    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "csc", "mash_manager"))

    page.get_by_role("link", name="See the MASH's performance reports").first.click()
    page.wait_for_url(f"{live_hub.url}/reports")
    assert page.locator("h1").inner_text() == "The MASH's performance"
    assert "fewer than 5" in page.locator("#small-numbers").inner_text()
    # The demo's three cases: every report has its chart and its table.
    assert page.locator("svg.hub-chart").count() == page.locator("table.govuk-table").count()
    assert page.locator("#table-referrer_types").is_visible()

    # A range that ends before it starts: the error summary links to the end date.
    end = page.get_by_role("group", name="To (included)")
    end.get_by_label("Year").fill("2001")
    page.get_by_role("button", name="Show the figures").click()
    summary = page.locator(".govuk-error-summary")
    assert "The end date must be the same as or after the start date" in summary.inner_text()
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "to_date"

    next_year = str(datetime.now(UTC).year + 1)  # within the three years a page may show
    end.get_by_label("Year").fill(next_year)
    page.get_by_label("By week").check()
    page.get_by_role("button", name="Show the figures").click()
    assert "by week" in page.locator("#range").inner_text()
    assert "Week beginning" in page.locator("#table-ratings").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reports.png"))

    with page.expect_download() as download:
        page.get_by_role("link", name="Download these figures as CSV").click()
    name = download.value.suggested_filename
    assert name.startswith("mash-reports-") and f"-to-{next_year}-" in name
    assert download.value.path().read_text().startswith("Report,Period or agency,Measure,Value")
