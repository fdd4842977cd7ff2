"""The firewall's one door: every protected record type maps to the policy in one place."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import Contact
from mash_hub.firewall import records
from tests.functional.test_retention import api, hub, listed, person, scalar  # noqa: F401
from tests.helpers import current_code


def test_a_deleted_contact_is_closed_to_every_part_of_the_hub(app, hub, clock):  # noqa: F811
    """Disclosure kept its own copy of the contact's policy mapping, in which a contact
    deleted under retention was "open": a manager could start a disclosure on it."""
    cid = hub.closed_contact(register=True)
    hub.backdate(cid)
    assert listed(app) == 1
    lead = hub.lead("csc")
    assert hub.delete(lead, cid, current_code(lead.account.seed, clock)).status_code == 302
    manager = hub.person(Role.MASH_MANAGER, "csc")
    for path in (f"/contacts/{cid}", f"/contacts/{cid}/disclosures/new"):
        assert manager.get(path).status_code == 404, path
    with app.app_context(), app.extensions["mash.db"].transaction() as session:
        contact = session.get(Contact, uuid.UUID(cid))
        assert records.contact_resource(contact).status == "closed"
    assert scalar(app, select(Contact.status).where(Contact.id == uuid.UUID(cid))) == "deleted"
