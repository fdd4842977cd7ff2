"""The contact's case file: composed in the view from one opened contact, with no template
global loading data while a page renders, and parts that only show what was opened."""

from __future__ import annotations

import uuid

import pytest
from flask import g

from mash_hub import db, firewall
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts import services as contacts
from mash_hub.contacts.models import Contact
from mash_hub.disclosure import services as disclosure
from mash_hub.firewall.release import ReleaseRefused
from mash_hub.people import services as people
from mash_hub.policy import Action, ContactResource
from mash_hub.sharing import services as sharing
from tests.functional.test_contacts_api import CONTACT, audit, token
from tests.helpers import sign_in


def test_no_template_global_of_the_hub_loads_data(app):
    """Pages are composed in views: a template can call no function of the hub's own."""
    hub_callables = sorted(
        name
        for name, value in app.jinja_env.globals.items()
        if callable(value) and getattr(value, "__module__", "").startswith("mash_hub")
    )
    assert hub_callables == []


def _screener(agency: str = "csc") -> Principal:
    return Principal(
        kind="user",
        id=str(uuid.uuid4()),
        agency=agency,
        roles=frozenset({Role.SCREENER}),
        scopes=frozenset(),
        permissions=frozenset(),
    )


@pytest.fixture
def contact_id(client, make_client) -> str:
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)
    return client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]


PARTS = {
    "requests": lambda principal, access: sharing.requests_on_opened_contact(
        db.session(), principal, access
    ),
    "disclosures": lambda principal, access: disclosure.on_contact(db.session(), principal, access),
    "warnings": lambda principal, access: people.repeat_contact_warnings(
        db.session(), principal, access
    ),
}


@pytest.mark.parametrize("part", sorted(PARTS))
def test_a_part_of_the_page_shows_only_what_its_caller_opened(app, contact_id, part):
    """The requests, disclosures and warnings of a contact take the page's access as
    proof: someone else's access, or one for another action, opens nothing."""
    show = PARTS[part]
    opener, other = _screener(), _screener("police")
    with app.test_request_context("/"):
        g.principal = opener  # as the gate sets it: PostgreSQL's row-level security reads it
        contact = db.session().get(Contact, uuid.UUID(contact_id))
        resource = ContactResource(contact_id, contact.rag or "none", "open")
        read = firewall.require(opener, Action.CONTACT_READ, resource, contact_id=contact_id)
        assert show(opener, read) == []
        with pytest.raises(ReleaseRefused):
            show(other, read)
        rate = firewall.require(opener, Action.CONTACT_RATE, resource, contact_id=contact_id)
        with pytest.raises(ReleaseRefused):
            show(opener, rate)


def test_the_contact_page_opens_the_contact_once(app, contact_id, make_account, clock):
    """One page view of a contact is one decided read of it, whatever its parts show
    (people, requests and disclosures: a manager sees every part)."""
    web = app.test_client()
    sign_in(web, make_account(Role.MASH_MANAGER, "csc"), clock)
    before = [row for row in audit(app) if row[0] == "contact:read"]
    page = web.get(f"/contacts/{contact_id}")
    assert page.status_code == 200
    assert "Neighbour reports shouting" in page.text
    reads = [row for row in audit(app) if row[0] == "contact:read"][len(before) :]
    assert [decision for _action, decision, _reason in reads] == ["allow"]


def test_get_contact_for_hands_back_the_access_it_decided(app, contact_id):
    principal = _screener()
    with app.test_request_context("/"):
        g.principal = principal
        view = contacts.get_contact_for(db.session(), principal, contact_id)
        assert view.access.contact_id == contact_id
        assert view.access.principal_id == principal.id
        assert view.access.action == Action.CONTACT_READ
