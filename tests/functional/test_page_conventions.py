"""GOV.UK conventions every page keeps (usability review m5, m17, m18): agency names, not
codes; an accessibility statement and a privacy notice in the footer; the protective
marking on every signed-in page; the account bar in plain words."""

from __future__ import annotations

import re

import pytest

from mash_hub.authz.permissions import Role
from tests.functional.test_contacts_api import CONTACT
from tests.functional.test_requests import screening
from tests.helpers import sign_in

FOOTER_LINKS = ('href="/accessibility"', 'href="/privacy"')


def test_the_footer_links_both_statements_before_and_after_sign_in(
    app, client, clock, make_account
):
    signed_out = client.get("/sign-in").text
    for link in FOOTER_LINKS:
        assert link in signed_out
    assert "OFFICIAL-SENSITIVE" not in signed_out  # no case data before sign-in

    web = app.test_client()
    sign_in(web, make_account(Role.SCREENER, "police"), clock)
    home = web.get("/").text
    for link in FOOTER_LINKS:
        assert link in home
    assert 'id="protective-marking"' in home and "OFFICIAL-SENSITIVE" in home


@pytest.mark.parametrize(
    ("path", "heading", "words"),
    [
        ("/accessibility", "Accessibility statement", "WCAG"),
        ("/privacy", "Privacy notice", "Information Commissioner"),
    ],
)
def test_the_statements_are_open_to_everyone(client, path, heading, words):
    response = client.get(path)
    assert response.status_code == 200
    assert f'<h1 class="govuk-heading-l">{heading}</h1>' in response.text
    assert words in response.text


def test_pages_name_agencies_not_codes(app, client, clock, make_client, make_account):
    police = screening(client, make_client)
    created = client.post(
        "/api/v1/contacts",
        json={**CONTACT, "source": {**CONTACT["source"], "agency": "yos"}},
        headers=police,
    )
    assert created.status_code == 201
    contact_id = created.get_json()["id"]

    web = app.test_client()
    sign_in(web, make_account(Role.SCREENER, "police"), clock)
    page = web.get(f"/contacts/{contact_id}").text
    assert "Contact from Youth offending service" in page
    assert "Contact from yos" not in page
    queue = web.get("/queue").text
    cells = re.findall(r'<td class="govuk-table__cell">([^<]*)</td>', queue)
    assert "Youth offending service" in cells
    assert "yos" not in cells


def test_the_account_bar_reads_as_a_sentence(app, clock, make_account):
    web = app.test_client()
    sign_in(web, make_account(Role.MASH_MANAGER, "csc"), clock)
    home = web.get("/").text
    assert "Role: MASH manager" in home
    assert ") (" not in home  # "Police (Public Protection Desk) (Screener)" before
