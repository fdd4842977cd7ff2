"""Decisions: a screener proposes, a MASH manager approves or returns; the referrer is
told within one working day; the history is append-only; partners get nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.contacts.models import (
    DECISION_OUTCOMES,
    Contact,
    ContactDecision,
    DecisionReview,
)
from mash_hub.db import Database
from mash_hub.screening.services import OUTCOME_LABELS
from tests.functional.test_contacts_api import token


def rate(client, api, contact_id, rag="amber"):
    response = client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": rag, "rationale": "Partner checks needed"},
        headers=api,
    )
    assert response.status_code == 200


def decide(client, headers, contact_id, body):
    return client.post(f"/api/v1/contacts/{contact_id}/decision", json=body, headers=headers)


def pending_id(app) -> str:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return str(
            session.scalar(select(ContactDecision.id).order_by(ContactDecision.proposed_at.desc()))
        )


def contact_status(app) -> str:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.scalar(select(Contact.status))


def events(app, kind):
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.execute(
            select(AuditEvent.actor_id, AuditEvent.reason, AuditEvent.contact_id).where(
                AuditEvent.kind == kind
            )
        ).all()


def test_propose_approve_and_tell_the_referrer(
    app, client, api, screener, manager, person, contact_id, clock
):
    rate(client, api, contact_id)
    path = f"/contacts/{contact_id}/decision"
    proposed = screener.post_form(
        path, {"outcome": "s17_assessment", "rationale": "Needs a full assessment"}
    )
    assert proposed.status_code == 302
    page = screener.get(path).text
    assert "Awaiting approval" in page and "Needs a full assessment" in page
    assert "Sign off the proposed outcome" not in page  # a screener cannot approve

    queue = manager.get("/queue").text
    assert "Decisions awaiting your approval" in queue
    assert "Child and family assessment (s17)" in queue

    approved = manager.post_form(
        f"{path}/review",
        {
            "decision_id": pending_id(app),
            "verdict": "approved",
            "referral_reason": "Help with routines",
        },
        page=path,
    )
    assert approved.status_code == 302
    assert contact_status(app) == "decided"
    page = manager.get(path).text
    assert "Approved" in page
    # One working day (8 working hours) after the sign-off on Monday ~10:00: Tuesday.
    assert "Tell the referrer the outcome by 1 December 2026 at 10:0" in page
    assert [reason for _a, reason, _c in events(app, "decision.reviewed")] == ["approved"]

    # Rating is over once a decision is approved.
    again = client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "red", "rationale": "late"},
        headers=api,
    )
    assert again.status_code == 409

    clock.advance(timedelta(days=1, hours=1))  # Tuesday ~11:00: overdue
    manager, screener = person(Role.MASH_MANAGER, "csc"), person(Role.SCREENER, "police")
    overdue = manager.get(path).text
    assert "Overdue: the referrer should have been told by" in overdue
    assert "Overdue" in manager.get("/queue").text
    told = screener.post_form(
        f"/contacts/{contact_id}/acknowledgement",
        {"method": "phone", "told_date": "01/12/2026", "told_time": "10:30"},
        page=path,
    )
    assert told.status_code == 302
    told_page = screener.get(told.headers["Location"]).text
    assert "govuk-notification-banner--success" in told_page
    assert "The referrer has been told the outcome" in told_page
    assert contact_status(app) == "closed"
    ((actor, method, cid),) = events(app, "referrer.acknowledged")
    assert (actor, method, cid) == (str(screener.account.user_id), "phone", contact_id)
    # Closed: it has left the MASH; the page is no longer open to anyone.
    assert manager.get(path).status_code == 404


def test_a_manager_returns_with_a_reason_and_the_screener_proposes_again(
    app, client, api, screener, manager, contact_id
):
    rate(client, api, contact_id)
    path = f"/contacts/{contact_id}/decision"
    screener.post_form(path, {"outcome": "no_further_action", "rationale": "Nothing more"})
    no_reason = manager.post_form(
        f"{path}/review", {"decision_id": pending_id(app), "verdict": "returned"}, page=path
    )
    assert no_reason.status_code == 200
    assert "Give the reason for returning the decision" in no_reason.text
    returned = manager.post_form(
        f"{path}/review",
        {
            "decision_id": pending_id(app),
            "verdict": "returned",
            "reason": "Check with school first",
        },
        page=path,
    )
    assert returned.status_code == 302
    assert contact_status(app) == "in_progress"
    page = screener.get(path).text
    assert "Returned" in page and "Check with school first" in page
    assert "Propose an outcome" in page
    assert (
        screener.post_form(
            path, {"outcome": "early_help", "rationale": "After school check"}
        ).status_code
        == 302
    )
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        outcomes = session.scalars(
            select(ContactDecision.outcome).order_by(ContactDecision.proposed_at)
        ).all()
    assert outcomes == ["no_further_action", "early_help"]


def test_a_screener_cannot_approve(app, client, api, screener, person, contact_id):
    rate(client, api, contact_id)
    path = f"/contacts/{contact_id}/decision"
    screener.post_form(path, {"outcome": "signpost", "rationale": "Universal services"})
    other = person(Role.SCREENER, "csc")
    refused = other.post_form(
        f"{path}/review",
        {
            "decision_id": pending_id(app),
            "verdict": "approved",
            "referral_reason": "Help with routines",
        },
        page=path,
    )
    assert refused.status_code == 403
    assert contact_status(app) == "in_progress"


def test_a_manager_cannot_approve_their_own_proposal(app, client, api, manager, contact_id):
    rate(client, api, contact_id)
    path = f"/contacts/{contact_id}/decision"
    manager.post_form(path, {"outcome": "signpost", "rationale": "Universal services"})
    refused = manager.post_form(
        f"{path}/review",
        {
            "decision_id": pending_id(app),
            "verdict": "approved",
            "referral_reason": "Help with routines",
        },
        page=path,
    )
    assert refused.status_code == 200
    assert "Another manager must sign off" in refused.text
    assert contact_status(app) == "in_progress"


def test_proposals_need_a_rating_and_a_rationale(app, client, api, screener, contact_id):
    path = f"/contacts/{contact_id}/decision"
    unrated = screener.post_form(path, {"outcome": "signpost", "rationale": "Why"})
    assert unrated.status_code == 409
    assert "rate the contact before proposing" in unrated.text.lower()
    rate(client, api, contact_id)
    blank = screener.post_form(path, {"outcome": "signpost", "rationale": ""})
    assert "Give the rationale for this outcome" in blank.text
    assert pending_id(app) == "None"


def test_partners_see_nothing(app, client, api, person, contact_id):
    rate(client, api, contact_id)
    path = f"/contacts/{contact_id}/decision"
    assert person(Role.SCREENER, "health").get(path).status_code == 404
    assert person(Role.AGENCY_RESEARCHER, "health").get(path).status_code == 403
    assert person(Role.MASH_MANAGER, "education").get(path).status_code == 404


# -- the API ---------------------------------------------------------------------------


def test_api_proposes_exactly_as_the_contract_says(app, client, api, contact_id):
    assert (
        decide(client, api, contact_id, {"outcome": "early_help", "rationale": "x"}).status_code
        == 409
    )
    rate(client, api, contact_id)
    response = decide(
        client, api, contact_id, {"outcome": "early_help", "rationale": "Family agrees"}
    )
    assert response.status_code == 201, response.json
    assert response.json["outcome"] == "early_help"
    assert response.json["status"] == "awaiting_approval"
    again = decide(client, api, contact_id, {"outcome": "signpost", "rationale": "Second"})
    assert again.status_code == 409
    assert "already waiting" in again.json["message"]
    ((actor, outcome, cid),) = events(app, "decision.proposed")
    assert (outcome, cid) == ("early_help", contact_id)
    shown = client.get(f"/api/v1/contacts/{contact_id}", headers=api)
    assert shown.json["status"] == "in_progress"
    # The rationale is sealed in the database, like every narrative.
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        sealed = session.scalar(select(ContactDecision.rationale_sealed))
    assert b"Family agrees" not in sealed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rationale": "why"}, "outcome"),
        ({"outcome": "adopt", "rationale": "why"}, "outcome"),
        ({"outcome": "signpost"}, "rationale"),
        ({"outcome": "signpost", "rationale": "x" * 5001}, "rationale"),
    ],
)
def test_api_bad_decisions_get_field_errors(app, client, api, contact_id, body, field):
    rate(client, api, contact_id)
    response = decide(client, api, contact_id, body)
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert pending_id(app) == "None"


def test_api_other_side_and_missing_look_the_same(client, make_client, contact_id, api):
    rate(client, api, contact_id)
    health = token(client, make_client, "health", Scope.SCREENING_WRITE)
    body = {"outcome": "signpost", "rationale": "why"}
    refused = decide(client, health, contact_id, body)
    missing = decide(client, health, "00000000-0000-4000-8000-000000000000", body)
    assert refused.status_code == missing.status_code == 404
    assert refused.data == missing.data
    reader = token(client, make_client, "police", Scope.SCREENING_READ)
    assert decide(client, reader, contact_id, body).status_code == 403


def test_decisions_and_reviews_cannot_be_edited(app, client, api, screener, manager, contact_id):
    rate(client, api, contact_id)
    path = f"/contacts/{contact_id}/decision"
    screener.post_form(path, {"outcome": "signpost", "rationale": "Universal services"})
    manager.post_form(
        f"{path}/review",
        {
            "decision_id": pending_id(app),
            "verdict": "approved",
            "referral_reason": "Help with routines",
        },
        page=path,
    )
    database: Database = app.extensions["mash.db"]
    for model, column, value in (
        (ContactDecision, "outcome", "no_further_action"),
        (DecisionReview, "verdict", "returned"),
    ):
        with pytest.raises(DatabaseError, match="append-only"), database.transaction() as session:
            session.execute(update(model).values({column: value}))
        with pytest.raises(DatabaseError, match="append-only"), database.transaction() as session:
            session.execute(delete(model))


def test_every_outcome_of_the_contract_has_a_label():
    assert tuple(OUTCOME_LABELS) == DECISION_OUTCOMES == (
        "strategy_discussion", "s17_assessment", "early_help", "signpost",
        "no_further_action", "pass_to_allocated_worker",
    )  # fmt: skip


def test_two_proposals_taking_the_same_number_cannot_both_be_saved(app, client, api, contact_id):
    """The guard behind "an outcome is already waiting": proposals are numbered per
    contact, so two made at the same moment collide in the database."""
    import uuid
    from datetime import UTC, datetime

    from sqlalchemy.exc import IntegrityError

    database: Database = app.extensions["mash.db"]

    def proposal() -> ContactDecision:
        return ContactDecision(
            id=uuid.uuid4(),
            contact_id=uuid.UUID(contact_id),
            sequence=1,
            outcome="signpost",
            rationale_sealed=b"\x00",
            proposed_at=datetime(2026, 11, 30, 10, tzinfo=UTC),
            proposed_by="someone",
        )

    with database.transaction() as session:
        session.add(proposal())
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.add(proposal())
        session.flush()
