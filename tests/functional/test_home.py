"""Each role's home page shows its own work as counts, and links to where it is done."""

from __future__ import annotations

import re
from datetime import timedelta

from mash_hub.authz.permissions import Role
from tests.functional.test_contacts_api import CONTACT
from tests.functional.test_requests import ask, rated_contact, screening
from tests.helpers import sign_in


def cells(html: str, section: str) -> list[str]:
    part = html[html.index(f'id="home-{section}"') :]
    part = part[: part.index("</section>")]
    return re.findall(r'<td class="govuk-table__cell">([^<]*)</td>', part)


def home(app, make_account, clock, role, agency) -> str:
    web = app.test_client()
    sign_in(web, make_account(role, agency), clock)
    return web.get("/").text


def test_home_pages_count_each_roles_work(app, client, clock, make_client, make_account):
    police = screening(client, make_client)
    amber = rated_contact(client, police)
    assert client.post("/api/v1/contacts", json=CONTACT, headers=police).status_code == 201
    ask(client, police, amber, "health")
    ask(client, police, amber, "education")

    health = home(app, make_account, clock, Role.AGENCY_RESEARCHER, "health")
    assert cells(health, "agency_researcher") == ["1"]
    housing = home(app, make_account, clock, Role.AGENCY_RESEARCHER, "housing")
    assert cells(housing, "agency_researcher") == []
    assert "Housing has no open information requests." in housing

    clock.advance(timedelta(days=3))  # past the Amber decision deadline; requests lapse
    screener = home(app, make_account, clock, Role.SCREENER, "csc")
    assert cells(screener, "screener") == ["2", "1", "0"]  # none returned to them
    manager = home(app, make_account, clock, Role.MASH_MANAGER, "police")
    assert cells(manager, "mash_manager") == ["0", "2", "1"]
    health = home(app, make_account, clock, Role.AGENCY_RESEARCHER, "health")
    assert cells(health, "agency_researcher") == []
