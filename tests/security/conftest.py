"""One scene for the security regression suite: a MASH contact rated Amber, with requests
to health (answered, with a restricted item), education and probation (open); a token
for every agency's system; a signed-in browser for each kind of user. Distinctive marker
text lets every test ask whether anything crossed to where it must not be."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from mash_hub.authz.permissions import Role, Scope
from tests.functional.test_contacts_api import CANARY as CONCERN
from tests.functional.test_contacts_api import token
from tests.functional.test_requests import ask, rated_contact, researcher, screening
from tests.helpers import sign_in

HEALTH_FACT = "canary-5e1f-health-fact"
RESTRICTED = "canary-0c2d-restricted-opinion"
PARTNERS = ("health", "education", "housing", "probation", "yos")
# Who signs in to the pages, as (role, agency).
PEOPLE = {
    "health researcher": (Role.AGENCY_RESEARCHER, "health"),
    "education researcher": (Role.AGENCY_RESEARCHER, "education"),
    "csc screener": (Role.SCREENER, "csc"),
    "police screener": (Role.SCREENER, "police"),
    "csc manager": (Role.MASH_MANAGER, "csc"),
    "health lead": (Role.GOVERNANCE_LEAD, "health"),
    "csc lead": (Role.GOVERNANCE_LEAD, "csc"),
    "csc admin": (Role.ADMIN, "csc"),
}


@dataclass
class Scene:
    contact_id: str
    requests: dict[str, str]  # agency asked -> request id
    tokens: dict[str, dict[str, str]]  # agency -> headers
    sign_in_as: Callable[[str], FlaskClient]
    browsers: dict[str, FlaskClient] = field(default_factory=dict)
    markers: tuple[str, ...] = (CONCERN, HEALTH_FACT, RESTRICTED)

    def browser(self, person: str) -> FlaskClient:
        """A browser signed in as one of PEOPLE (signed in on first use)."""
        if person not in self.browsers:
            self.browsers[person] = self.sign_in_as(person)
        return self.browsers[person]


@pytest.fixture
def scene(app, client, clock, make_client, make_account) -> Scene:
    def sign_in_as(person: str) -> FlaskClient:
        role, agency = PEOPLE[person]
        browser = app.test_client()
        sign_in(browser, make_account(role, agency), clock)
        return browser

    police = screening(client, make_client)
    contact_id = rated_contact(client, police)
    requests = {
        agency: ask(client, police, contact_id, agency).json["id"]
        for agency in ("health", "education", "probation")
    }
    health = researcher(client, make_client, "health")
    answered = client.post(
        f"/api/v1/requests/{requests['health']}/response",
        json={
            "outcome": "information_held",
            "items": [
                {"kind": "fact", "text": f"Seen at clinic. {HEALTH_FACT}"},
                {"kind": "opinion", "text": f"Concerned. {RESTRICTED}", "restricted": True},
            ],
        },
        headers=health,
    )
    assert answered.status_code == 201, answered.json
    tokens = {agency: researcher(client, make_client, agency) for agency in PARTNERS}
    tokens["police"] = police
    tokens["csc audit"] = token(client, make_client, "csc", Scope.AUDIT_READ)
    clock.advance(timedelta(seconds=1))
    return Scene(contact_id, requests, tokens, sign_in_as)


def leaked(scene: Scene, text: str, *allowed: str) -> list[str]:
    """The scene's markers found in `text`, but for those `allowed` there."""
    return [marker for marker in scene.markers if marker in text and marker not in allowed]
