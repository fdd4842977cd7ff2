"""Usability review items on the screening pages (#13): a returned decision shows on the
screener's queue and home page (D6); each action ends in a success banner (m2); Enter on
intake records the contact (m8); sign-off shows the requests and answers (m23); the rating
form says what Red, Amber and Green mean (m24)."""

from __future__ import annotations

import re
from datetime import timedelta

from mash_hub.authz.permissions import Scope
from tests.functional.screening.test_decisions import pending_id, rate
from tests.functional.test_contacts_api import token

RETURN_REASON = "Speak to the school first: the referral names a second child"


def _propose_and_return(app, client, api, screener, manager, contact_id):
    rate(client, api, contact_id, "red")
    path = f"/contacts/{contact_id}/decision"
    proposed = screener.post_form(
        path, {"outcome": "early_help", "rationale": "Family asked for support"}
    )
    assert proposed.status_code == 302
    returned = manager.post_form(
        f"{path}/review",
        {"decision_id": pending_id(app), "verdict": "returned", "reason": RETURN_REASON},
        page=path,
    )
    assert returned.status_code == 302
    return path


def _row(html: str, contact_id: str) -> str:
    link = html.index(f'/contacts/{contact_id}"')
    start = html.rindex("<tr", 0, link)
    return html[start : html.index("</tr>", link)]


def test_a_returned_decision_is_flagged_on_the_queue_and_counted_at_home(
    app, client, api, screener, manager, contact_id
):
    path = _propose_and_return(app, client, api, screener, manager, contact_id)

    row = _row(screener.get("/queue").text, contact_id)
    assert "Returned" in row and RETURN_REASON in row
    home = screener.get("/").text
    assert "Decisions returned to you" in home
    cells = re.findall(r'<td class="govuk-table__cell[^"]*">\s*(\d+)\s*</td>', home)
    assert cells[-1] == "1", cells

    # Proposing again is acting on it: the flag and the count go.
    again = screener.post_form(path, {"outcome": "early_help", "rationale": "School spoken to"})
    assert again.status_code == 302
    row = _row(screener.get("/queue").text, contact_id)
    assert "Returned" not in row and RETURN_REASON not in row
    cells = re.findall(
        r'<td class="govuk-table__cell[^"]*">\s*(\d+)\s*</td>', screener.get("/").text
    )
    assert cells[-1] == "0", cells


def test_each_decision_step_ends_in_a_success_banner_shown_once(
    app, client, api, screener, manager, contact_id, clock
):
    rate(client, api, contact_id, "red")
    path = f"/contacts/{contact_id}/decision"
    proposed = screener.post_form(path, {"outcome": "early_help", "rationale": "Support"})
    page = screener.get(proposed.headers["Location"]).text
    assert "govuk-notification-banner--success" in page and 'role="alert"' in page
    assert "Decision proposed" in page and "A MASH manager will sign it off" in page
    # Shown once: the next page has no banner.
    assert "govuk-notification-banner--success" not in screener.get(path).text

    returned = manager.post_form(
        f"{path}/review",
        {"decision_id": pending_id(app), "verdict": "returned", "reason": RETURN_REASON},
        page=path,
    )
    banner = manager.get(returned.headers["Location"]).text
    assert "Decision returned to the screener" in banner
    clock.advance(timedelta(minutes=5))
    screener.post_form(path, {"outcome": "early_help", "rationale": "Support again"})
    approved = manager.post_form(
        f"{path}/review",
        {
            "decision_id": pending_id(app),
            "verdict": "approved",
            "referral_reason": "Help with routines",
        },
        page=path,
    )
    banner = manager.get(approved.headers["Location"]).text
    assert "Decision signed off" in banner and "the referrer must be told" in banner


def test_saving_a_rating_is_confirmed_above_the_form(screener, contact_id):
    path = f"/contacts/{contact_id}/rating"
    saved = screener.post_form(
        path, {"rag": "amber", "rationale": "Partner checks needed", "seen_ratings": "0"}
    )
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith(f"/contacts/{contact_id}/rating")
    page = screener.get(saved.headers["Location"]).text
    assert re.search(r"Contact MASH-\d{4}-\d+ rated Amber", page)
    assert "24 working hours" in page and "govuk-notification-banner--success" in page


def test_the_rating_form_says_what_each_rating_means_and_its_timescale(screener, contact_id):
    page = screener.get(f"/contacts/{contact_id}/rating").text
    assert "Risk of significant harm now" in page
    assert "4 working hours" in page and "24 working hours" in page and "72 hours" in page
    assert "Lower-level need" in page and "early help" in page


def test_recording_a_contact_confirms_it_and_enter_records_it(screener):
    form = screener.get("/contacts/new").text
    intake = form[form.index('<form method="post" novalidate id="intake">') :]
    first_submit = re.search(r'<(?:input|button)[^>]*type="submit"[^>]*>', intake).group(0)
    # Enter in a text field presses the form's first submit button: it must record.
    assert 'name="submit"' in first_submit, first_submit
    assert intake.index('name="submit"') < intake.index('name="add_subject"')
    recorded = screener.post_form(
        "/contacts/new",
        {
            "received_date": "30/11/2026",
            "received_time": "09:30",
            "referrer_type": "agency",
            "source_agency": "education",
            "referrer_name": "Head of year",
            "referrer_role": "Teacher",
            "concern": "Bruising seen on the child's arm",
            "presenting_issues": ["physical_abuse"],
            "consent_status": "given",
            "subjects-0-role": "child",
            "subjects-0-given_name": "Maisie",
            "subjects-0-family_name": "Thompson",
        },
    )
    assert recorded.status_code == 302, recorded.text
    page = screener.get(recorded.headers["Location"]).text
    assert re.search(r"Contact MASH-\d{4}-\d+ recorded", page)
    assert "Maisie" not in page.split('govuk-notification-banner__content">')[1].split("</div>")[0]


def test_sign_off_shows_outstanding_requests_and_answers(
    app, client, api, screener, manager, contact_id, make_client
):
    rate(client, api, contact_id, "amber")
    for agency in ("education", "health"):
        asked = client.post(
            f"/api/v1/contacts/{contact_id}/requests",
            json={"agency": agency, "question": "Is the family known to you?"},
            headers=api,
        )
        assert asked.status_code == 201, asked.json
        if agency == "health":
            health = token(
                client, make_client, "health", Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE
            )
            answered = client.post(
                f"/api/v1/requests/{asked.json['id']}/response",
                json={
                    "outcome": "information_held",
                    "items": [{"kind": "fact", "text": "Seen in A&E in October"}],
                },
                headers=health,
            )
            assert answered.status_code == 201, answered.json
    path = f"/contacts/{contact_id}/decision"
    screener.post_form(path, {"outcome": "early_help", "rationale": "Support"})
    page = manager.get(path).text
    assert "Sign off the proposed outcome" in page
    assert "1 agency has not answered yet: Education" in page
    assert "Seen in A&amp;E in October" in page
    assert "Waiting for an answer" in page
