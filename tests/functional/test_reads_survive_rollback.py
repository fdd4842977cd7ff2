"""An allowed read decided inside a request's unit of work is recorded once, however the
request ends: committed with it, or written again on its own when it rolls back (the page
may still show what was released, as an error page or a form shown again)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from mash_hub import db
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.firewall import decide_many, decide_within, require
from mash_hub.firewall.decisions import AccessDenied, allowed_in_request
from mash_hub.policy import Action, ContactResource


def screener() -> Principal:
    return Principal(
        "user", str(uuid.uuid4()), "csc", frozenset({Role.SCREENER}), frozenset(), frozenset()
    )


def partner() -> Principal:
    return Principal(
        "user", str(uuid.uuid4()), "health", frozenset({Role.AGENCY_RESEARCHER}),
        frozenset(), frozenset(),
    )  # fmt: skip


def contact() -> tuple[ContactResource, str]:
    cid = str(uuid.uuid4())
    return ContactResource(cid, "amber", "open"), cid


def decisions(app, contact_id: str) -> list[tuple[str, str]]:
    database: db.Database = app.extensions["mash.db"]
    with database.transaction() as session:
        rows = session.execute(
            select(AuditEvent.decision, AuditEvent.id)
            .where(AuditEvent.contact_id == contact_id)
            .order_by(AuditEvent.seq)
        ).all()
    return [(decision, str(id_)) for decision, id_ in rows]


@pytest.mark.parametrize("ending", ["committed", "rolled back", "rolled back twice", "closed"])
def test_an_allowed_read_is_recorded_once_however_the_request_ends(app, ending):
    resource, cid = contact()
    with app.test_request_context("/"):
        access = require(screener(), Action.CONTACT_READ, resource, contact_id=cid)
        if ending == "committed":
            db.commit_request()
        elif ending.startswith("rolled back"):
            db.rollback_request()
            if ending.endswith("twice"):
                db.rollback_request()
        db.close_request()
    assert decisions(app, cid) == [("allow", str(access.audit_event_id))]


def test_reads_decided_for_a_page_are_kept_by_a_rollback(app):
    one, first = contact()
    many, second = contact()
    with app.test_request_context("/"):
        principal = screener()
        assert decide_within(principal, Action.CONTACT_READ, one, contact_id=first) is not None
        assert decide_many(principal, Action.CONTACT_READ, [(many, second)]) != [None]
        db.rollback_request()
        db.close_request()
    assert [d for d, _ in decisions(app, first)] == ["allow"]
    assert [d for d, _ in decisions(app, second)] == ["allow"]


def test_each_read_between_rollbacks_is_recorded_once(app):
    resource, cid = contact()
    with app.test_request_context("/"):
        principal = screener()
        require(principal, Action.CONTACT_READ, resource, contact_id=cid)
        db.rollback_request()
        # The page reads again after the rollback (a fresh view): a second decision.
        require(principal, Action.CONTACT_READ, ContactResource(cid, "red", "open"),
                contact_id=cid)  # fmt: skip
        db.rollback_request()
        db.commit_request()
        db.close_request()
    assert [d for d, _ in decisions(app, cid)] == ["allow", "allow"]


def test_a_later_refusal_keeps_the_earlier_read_once(app):
    resource, cid = contact()
    with app.test_request_context("/"):
        require(screener(), Action.CONTACT_READ, resource, contact_id=cid)
        with pytest.raises(AccessDenied):  # rolls the unit of work back itself
            require(partner(), Action.CONTACT_READ, resource, contact_id=cid)
        db.rollback_request()  # the error answer rolls back again
        db.close_request()
    assert [d for d, _ in decisions(app, cid)] == ["allow", "deny"]


def test_a_read_kept_after_a_rollback_is_still_the_requests_access(app):
    resource, cid = contact()
    with app.test_request_context("/"):
        principal = screener()
        access = require(principal, Action.CONTACT_READ, resource, contact_id=cid)
        db.rollback_request()
        assert allowed_in_request(principal, Action.CONTACT_READ, cid) == access
        db.commit_request()
        db.close_request()
    assert decisions(app, cid) == [("allow", str(access.audit_event_id))]
