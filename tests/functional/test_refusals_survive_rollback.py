"""A refusal decided inside a page's unit of work (a list page marking withheld records)
is audited even if the page then fails and its unit of work rolls back."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from mash_hub import db
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.firewall import decide_many, decide_within
from mash_hub.policy.pdp import ContactResource
from mash_hub.policy.types import Action


def researcher() -> Principal:
    return Principal(
        "user", str(uuid.uuid4()), "health", frozenset({Role.AGENCY_RESEARCHER}),
        frozenset(), frozenset(),
    )  # fmt: skip


def refusals(app, contact_id: str) -> int:
    database: db.Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.contact_id == contact_id, AuditEvent.decision == "deny")
        )


@pytest.mark.parametrize("ending", ["rolled back", "never committed", "committed"])
def test_a_refusal_is_recorded_once_however_the_page_ends(app, ending):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    with app.test_request_context("/"):
        principal = researcher()
        one = decide_within(
            principal, Action.CONTACT_READ, ContactResource(first, "red", "open"), contact_id=first
        )
        many = decide_many(
            principal, Action.CONTACT_READ, [(ContactResource(second, "amber", "open"), second)]
        )
        assert one is None and many == [None]
        if ending == "rolled back":
            db.rollback_request()
        elif ending == "committed":
            db.commit_request()
        db.close_request()
    assert refusals(app, first) == 1
    assert refusals(app, second) == 1
