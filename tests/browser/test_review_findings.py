"""The usability review's major findings D1, D7 and D8, in the browser (the others have
their own flows): the demo runs again after use, a parent is not merged into a child
without a manager's reason, and implausible dates are refused with a GOV.UK error."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.browser.hub import api_call, api_token, demo_user, fill_date, security_code, sign_in
from tests.functional.test_contacts_api import CONTACT

TOTP = timedelta(seconds=30)  # the first sign-in spent this step's code


def test_d1_the_demo_runs_again_after_use_and_its_sign_ins_still_work(live_hub, browser_page):
    page = browser_page
    screener = demo_user(live_hub, "police", "screener")
    sign_in(page, live_hub, screener)  # the hub in use: sessions, sign-ins, an audit trail
    police = api_token(live_hub, "police")
    contact_id = api_call(f"{live_hub.url}/api/v1/contacts", "POST", CONTACT, police)["id"]
    page.goto(f"{live_hub.url}/contacts/{contact_id}")

    again = subprocess.run(
        [sys.executable, "-m", "mash_hub", "demo", "--no-cases"],
        env=live_hub.env, cwd=live_hub.workdir, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr  # it crashed on a foreign key before
    credentials = json.loads((live_hub.workdir / "instance" / "demo-credentials.json").read_text())
    assert credentials["users"] == live_hub.credentials["users"]  # nothing silently replaced

    fresh = page.context.browser.new_context()
    other = fresh.new_page()
    other.set_default_timeout(15_000)
    other.goto(f"{live_hub.url}/sign-in")
    other.get_by_label("Email address").fill(screener["email"])
    other.get_by_label("Password", exact=True).fill(screener["password"])
    other.get_by_role("button", name="Continue").click()
    other.get_by_label("Security code").fill(security_code(screener["totp_secret"], later=TOTP))
    other.get_by_role("button", name="Continue").click()
    other.wait_for_url(f"{live_hub.url}/")
    other.goto(f"{live_hub.url}/contacts/{contact_id}")
    expect(other.get_by_role("heading", level=1)).to_have_text(re.compile(r"MASH-\d{4}-\d{6}"))
    fresh.close()


def test_d7_a_parent_is_not_merged_into_a_child_without_the_managers_reason(live_hub, browser_page):
    contact = copy.deepcopy(CONTACT)
    contact["subjects"] = [
        {"role": "child", "given_name": "Maisie", "family_name": "Thompson",
         "date_of_birth": "2016-05-12"},
        {"role": "parent", "given_name": "Kerry", "family_name": "Thompson",
         "date_of_birth": "1990-03-03"},
    ]  # fmt: skip
    police = api_token(live_hub, "police")
    contact_id = api_call(f"{live_hub.url}/api/v1/contacts", "POST", contact, police)["id"]

    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    page.goto(f"{live_hub.url}/contacts/{contact_id}")
    for name in ("Maisie Thompson", "Kerry Thompson"):
        page.get_by_role("button", name=re.compile(rf"Add {name} as a new person")).click()
        page.wait_for_url(re.compile(rf"/contacts/{contact_id}"))
    page.goto(f"{live_hub.url}/contacts/{contact_id}/people")
    page.get_by_role("group", name="Which record should be kept?").get_by_label(
        re.compile("Maisie")
    ).check()
    page.get_by_role(
        "group", name="Which record is the same person and should be merged into it?"
    ).get_by_label(re.compile("Kerry")).check()
    page.get_by_label("Why are these the same person?").fill("Same surname and address")
    page.get_by_role("button", name="Propose the merge").click()

    manager_context = page.context.browser.new_context()
    manager = manager_context.new_page()
    manager.set_default_timeout(15_000)
    sign_in(manager, live_hub, demo_user(live_hub, "csc", "mash_manager"))
    manager.goto(f"{live_hub.url}/people/merges")
    manager.get_by_role("link", name=re.compile("Review")).first.click()
    expect(manager.get_by_text("These records may not be the same person.")).to_be_visible()
    manager.get_by_label("Yes, approve the merge").check()
    manager.get_by_role("button", name="Record the decision").click()
    summary = manager.locator(".govuk-error-summary")
    expect(summary).to_contain_text("say why they are the same person to approve the merge")
    manager_context.close()


def test_d8_implausible_dates_are_refused_on_the_intake_page(live_hub, browser_page):
    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    page.goto(f"{live_hub.url}/contacts/new")
    fill_date(page, "Date received", "01/01/1900")
    page.get_by_label("Time received").fill("10:00")
    page.get_by_label("A member of the public").check()
    page.get_by_label("Referrer's name").fill("A neighbour")
    page.get_by_label("The concern").fill("A child left alone at night.")
    page.get_by_label("Neglect", exact=True).check()
    page.get_by_label("Given", exact=True).check()
    page.get_by_label("Role", exact=True).select_option("child")
    page.get_by_label("Given name").fill("Ann")
    page.get_by_label("Family name").fill("Lee")
    fill_date(page, "Date of birth (optional)", "01/01/1850")
    page.get_by_role("button", name="Record the contact").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("when the hub started taking contacts")
    expect(summary).to_contain_text("check the year")
    assert page.url.endswith("/contacts/new")  # nothing recorded: MASH-1900-000001 before


def test_m6_wide_tables_scroll_in_their_own_box_at_320_pixels(live_hub, browser_page):
    """Usability review m6: at 320 px, 22 of 44 signed-in pages scrolled sideways."""
    police = api_token(live_hub, "police")
    contact_id = api_call(f"{live_hub.url}/api/v1/contacts", "POST", CONTACT, police)["id"]
    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    page.set_viewport_size({"width": 320, "height": 800})
    for path in ("/", "/queue", f"/contacts/{contact_id}"):
        page.goto(f"{live_hub.url}{path}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px"
        assert page.locator(".hub-table-scroll table").count() >= (0 if path == "/" else 1)
    page.keyboard.press("Tab")  # the boxes take focus, for scrolling by keyboard
    assert page.locator(".hub-table-scroll[tabindex='0']").count() >= 1


def test_d4_a_summer_contact_shows_the_uk_time_it_came_in(live_hub, browser_page):
    summer = copy.deepcopy(CONTACT)
    summer["received_at"] = "2026-07-15T09:00:00Z"  # 10:00 in London, British Summer Time
    police = api_token(live_hub, "police")
    contact_id = api_call(f"{live_hub.url}/api/v1/contacts", "POST", summer, police)["id"]
    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    page.goto(f"{live_hub.url}/contacts/{contact_id}")
    expect(page.get_by_text("15 July 2026 at 10:00am")).to_be_visible()
    assert "UTC" not in page.content()


def _closed_contact(live_hub, closed_at):
    """A contact recorded over the API, then closed at `closed_at` (None: long ago, with no
    history window left) straight in the served hub's database."""
    police = api_token(live_hub, "police")
    contact = copy.deepcopy(CONTACT)
    contact["received_at"] = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    created = api_call(f"{live_hub.url}/api/v1/contacts", "POST", contact, police)
    engine = create_engine(live_hub.env["MASH_DATABASE__URL"])
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT set_config('app.agency_id', 'system', true)"))
        conn.execute(
            text("UPDATE contacts SET status = 'closed', closed_at = :at WHERE reference = :ref"),
            {"at": closed_at, "ref": created["reference"]},
        )
    engine.dispose()
    return created


def test_d2_a_closed_contact_opens_read_only_for_mash_staff(live_hub, browser_page):
    created = _closed_contact(live_hub, datetime.now(UTC) - timedelta(days=1))
    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "csc", "screener"))
    page.goto(f"{live_hub.url}/contacts/{created['id']}")
    banner = page.locator("#read-only")
    expect(banner).to_contain_text("This contact is closed. You can read it but not change it.")
    assert "Neighbour reports" in page.locator("#concern").inner_text()
    assert page.get_by_role("link", name=re.compile("Rate this contact")).count() == 0
    assert page.get_by_role("link", name="Ask an agency").count() == 0


def test_d3_break_glass_is_found_shown_with_its_time_left_and_reads_only(live_hub, browser_page):
    created = _closed_contact(live_hub, None)
    manager = demo_user(live_hub, "csc", "mash_manager")
    page = browser_page
    sign_in(page, live_hub, manager)
    page.goto(f"{live_hub.url}/contacts/{created['id']}")
    # Refused under the normal rules: told it has closed, and offered emergency access.
    page.locator("#offer-break-glass").click()
    assert page.get_by_label("Contact reference").input_value() == created["reference"]
    page.get_by_label("Why do you need emergency access?").fill("Child missing overnight")
    page.get_by_label("Security code").fill(security_code(manager["totp_secret"], TOTP))
    page.get_by_role("button", name="Open emergency access").click()
    banner = page.locator("#emergency-access")
    expect(banner).to_contain_text("read only")
    assert "left" in banner.inner_text() and "Child missing overnight" in banner.inner_text()
    assert page.get_by_role("link", name="Ask an agency").count() == 0
    # Sending a request anyway (a crafted visit to the form) is refused.
    page.goto(f"{live_hub.url}/contacts/{created['id']}/requests/new")
    assert "Page not found" in page.locator("h1").inner_text()


def test_d2_any_contact_is_found_by_name_and_date_of_birth(live_hub, browser_page):
    created = _closed_contact(live_hub, datetime.now(UTC) - timedelta(days=2))
    page = browser_page
    sign_in(page, live_hub, demo_user(live_hub, "police", "screener"))
    page.get_by_role("link", name="Find a contact").first.click()
    page.get_by_role("button", name="Search").click()
    assert "Enter a contact reference" in page.locator(".govuk-error-summary").inner_text()
    page.get_by_label("First name").fill("Sam")
    page.get_by_label("Last name").fill("Smith")
    page.get_by_label("Date of birth").fill("02/04/2015")
    page.get_by_role("button", name="Search").click()
    results = page.locator("#found")
    expect(results).to_contain_text(created["reference"])
    assert "Closed" in results.inner_text()
    results.get_by_role("link", name=created["reference"]).click()
    expect(page.locator("#read-only")).to_contain_text("You can read it but not change it")
