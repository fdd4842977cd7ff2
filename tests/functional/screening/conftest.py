"""Signed-in people of each kind, and a contact waiting for them."""

from __future__ import annotations

import pytest

from mash_hub.authz.permissions import Role, Scope
from tests.functional.test_contacts_api import CONTACT, token
from tests.helpers import csrf_token, sign_in


class Person:
    """A browser-like client signed in as one account."""

    def __init__(self, app, account, clock) -> None:
        self.account = account
        self.client = app.test_client()
        sign_in(self.client, account, clock)

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post_form(self, path, data, page=None):
        """Submit a form as the browser would: with the CSRF token of the page."""
        html = self.client.get(page or path).text
        return self.client.post(path, data={**data, "csrf_token": csrf_token(html)})


@pytest.fixture
def person(app, make_account, clock):
    def make(role=Role.SCREENER, agency="csc"):
        return Person(app, make_account(role, agency), clock)

    return make


@pytest.fixture
def screener(person):
    return person(Role.SCREENER, "police")


@pytest.fixture
def manager(person):
    return person(Role.MASH_MANAGER, "csc")


@pytest.fixture
def api(client, make_client):
    return token(
        client, make_client, "csc", Scope.CONTACTS_WRITE, Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )  # fmt: skip


@pytest.fixture
def contact_id(client, api):
    # Received Monday 30 November 2026 at 09:15 (GMT); the clock reads 10:00.
    response = client.post("/api/v1/contacts", json=CONTACT, headers=api)
    assert response.status_code == 201, response.json
    return response.json["id"]
