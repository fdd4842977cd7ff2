"""Messages leave through the outbox: each is written in the unit of work of the event
that causes it, to the right people and their agency's mailbox, and never without it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mash_hub import scheduler
from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.identity.models import User
from mash_hub.notifications.services import notify
from mash_hub.outbox.models import OutboxMessage
from mash_hub.retention.models import RetentionReview
from mash_hub.sharing.models import InfoRequest
from tests.conftest import make_settings
from tests.functional.screening.conftest import Person
from tests.functional.test_requests import ask, rated_contact, screening
from tests.functional.test_retention import Hub

HEALTH_MAILBOX = "mash-health@nhs.example"


@pytest.fixture
def settings(test_db_url, tmp_path):
    return make_settings(
        test_db_url,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_NOTIFICATIONS__MAILBOXES__HEALTH=HEALTH_MAILBOX,
        MASH_NOTIFICATIONS__BASE_URL="https://mash.example",
    )


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


@pytest.fixture
def person(app, make_account, clock):
    def make(role=Role.SCREENER, agency="csc"):
        return Person(app, make_account(role, agency), clock)

    return make


def _db(app) -> Database:
    return app.extensions["mash.db"]


def messages(app, kind: str | None = None, channel: str = "email") -> list[OutboxMessage]:
    with _db(app).transaction() as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.channel == channel)
            .order_by(OutboxMessage.recipient)
        )
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.scalars(query))


def reference(app, request_id: str) -> str:
    with _db(app).transaction() as session:
        return session.scalar(
            select(InfoRequest.contact_reference).where(InfoRequest.id == uuid.UUID(request_id))
        )


def addressed(app, kind: str) -> set[tuple[str, str, str]]:
    return {(m.recipient, m.recipient_kind, m.recipient_agency) for m in messages(app, kind)}


def test_a_red_request_is_mailed_to_the_agencys_researchers_and_its_mailbox(
    app, client, clock, police, make_account
):
    researcher = make_account(Role.AGENCY_RESEARCHER, "health", email="res@nhs.example")
    make_account(Role.AGENCY_RESEARCHER, "health", email="gone@nhs.example")
    make_account(Role.GOVERNANCE_LEAD, "health", email="lead@nhs.example")  # not asked
    make_account(Role.AGENCY_RESEARCHER, "housing", email="res@housing.example")
    with _db(app).transaction() as session:
        session.execute(
            update(User).where(User.email == "gone@nhs.example").values(disabled_at=clock.now())
        )
    contact_id = rated_contact(client, police, "red")
    sent = ask(client, police, contact_id, "health")
    assert sent.status_code == 201

    assert addressed(app, "request.sent") == {
        (researcher.email, "user", "health"),
        (HEALTH_MAILBOX, "mailbox", "health"),
    }
    for message in messages(app, "request.sent"):
        assert message.state == "queued" and message.attempts == 0
        assert message.object_id == sent.json["id"]
        assert message.contact_reference == reference(app, sent.json["id"])
        assert message.due_at == clock.now() + timedelta(hours=2)  # Red: two hours
        assert message.idempotency_key.endswith("@mash-hub")
    # Once for health's systems too: the delivery process sends it to their webhooks.
    assert [(m.recipient, m.state) for m in messages(app, "request.sent", "systems")] == [
        ("health", "queued")
    ]
    keys = {m.idempotency_key for m in messages(app)}
    assert len(keys) == len(messages(app))  # one key per message


def test_a_rolled_back_unit_of_work_leaves_no_message_and_a_committed_one_keeps_them(
    app, make_account
):
    make_account(Role.GOVERNANCE_LEAD, "health", email="lead@nhs.example")
    with app.app_context():
        with pytest.raises(RuntimeError), _db(app).transaction() as session:
            notify(
                session,
                agency="health",
                role=Role.GOVERNANCE_LEAD,
                kind="request.overdue",
                object_type="InfoRequest",
                object_id=str(uuid.uuid4()),
                contact_reference="MASH-2026-000001",
            )
            # The lead, the mailbox, and the event once for health's systems (webhooks).
            assert len(session.scalars(select(OutboxMessage)).all()) == 3
            raise RuntimeError("the action failed after notifying")
        assert messages(app) == [] and messages(app, channel="systems") == []
        with _db(app).transaction() as session:
            notify(
                session,
                agency="health",
                role=Role.GOVERNANCE_LEAD,
                kind="request.overdue",
                object_type="InfoRequest",
                object_id=str(uuid.uuid4()),
            )
    assert addressed(app, "request.overdue") == {
        ("lead@nhs.example", "user", "health"),
        (HEALTH_MAILBOX, "mailbox", "health"),
    }


def test_a_refused_request_queues_nothing(app, client, police, make_account):
    make_account(Role.AGENCY_RESEARCHER, "health", email="res@nhs.example")
    contact_id = rated_contact(client, police, "red")
    assert ask(client, police, contact_id, "health").status_code == 201
    assert ask(client, police, contact_id, "health").status_code == 409  # asked already
    assert len(messages(app, "request.sent")) == 2  # the first request's only


def test_expiry_mails_the_manager_the_agencys_lead_and_its_mailbox_once(
    app, client, clock, police, make_account
):
    make_account(Role.MASH_MANAGER, "csc", email="manager@csc.example")
    make_account(Role.GOVERNANCE_LEAD, "health", email="lead@nhs.example")
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")
    clock.advance(timedelta(minutes=100))  # 20 minutes left
    scheduler.run_job(app, scheduler.JOBS[1])  # escalate_requests
    assert addressed(app, "request.due_soon") == {
        ("manager@csc.example", "user", "csc"),
        ("lead@nhs.example", "user", "health"),
        (HEALTH_MAILBOX, "mailbox", "health"),
    }
    clock.advance(timedelta(minutes=21))
    scheduler.run_job(app, scheduler.JOBS[0])  # expire_requests
    overdue = messages(app, "request.overdue")
    assert {(m.recipient, m.recipient_kind, m.recipient_agency) for m in overdue} == {
        ("manager@csc.example", "user", "csc"),
        ("lead@nhs.example", "user", "health"),
        (HEALTH_MAILBOX, "mailbox", "health"),
    }
    assert {m.about_agency for m in overdue} == {"health"}


def test_a_returned_and_an_approved_outcome_are_mailed_to_the_proposers_screeners(
    app, client, clock, make_client, person, make_account
):
    from mash_hub.authz.permissions import Scope
    from tests.functional.test_contacts_api import token

    api = token(
        client, make_client, "csc", Scope.CONTACTS_WRITE, Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )  # fmt: skip
    make_account(Role.SCREENER, "police", email="screener2@police.example")
    make_account(Role.SCREENER, "csc", email="screener@csc.example")  # another agency's
    hub = Hub(app, client, api, person, clock)
    hub.closed_contact("no_further_action")  # proposed by a police screener, approved
    approved = messages(app, "decision.approved")
    assert {m.recipient_agency for m in approved} == {"police"}
    assert "screener2@police.example" in {m.recipient for m in approved}
    assert all(m.recipient_kind == "user" for m in approved)
    assert all(m.contact_reference and m.due_at for m in approved)  # tell the referrer by

    created = client.post("/api/v1/contacts", json=_contact(), headers=api)
    cid = created.json["id"]
    client.post(
        f"/api/v1/contacts/{cid}/rating",
        json={"rag": "amber", "rationale": "Partner checks needed"},
        headers=api,
    )
    path = f"/contacts/{cid}/decision"
    hub.screener.post_form(path, {"outcome": "signpost", "rationale": "Signpost"})
    from mash_hub.contacts.models import ContactDecision

    with _db(app).transaction() as session:
        decision_id = session.scalar(
            select(ContactDecision.id).where(ContactDecision.contact_id == uuid.UUID(cid))
        )
    returned = hub.manager.post_form(
        f"{path}/review",
        {"decision_id": str(decision_id), "verdict": "returned", "reason": "Check again"},
        page=path,
    )
    assert returned.status_code == 302
    back = messages(app, "decision.returned")
    assert "screener2@police.example" in {m.recipient for m in back}
    assert {m.object_id for m in back} == {cid}


def _contact():
    from tests.functional.test_contacts_api import CONTACT

    return CONTACT


def test_a_retention_review_due_is_mailed_to_the_mash_cores_governance_leads(
    app, client, clock, make_client, person, make_account
):
    from mash_hub.authz.permissions import Scope
    from tests.functional.test_contacts_api import token

    api = token(
        client, make_client, "csc", Scope.CONTACTS_WRITE, Scope.SCREENING_READ,
        Scope.SCREENING_WRITE,
    )  # fmt: skip
    make_account(Role.GOVERNANCE_LEAD, "csc", email="lead@csc.example")
    make_account(Role.GOVERNANCE_LEAD, "police", email="lead@police.example")
    make_account(Role.GOVERNANCE_LEAD, "health", email="lead@nhs.example")  # not the MASH's
    hub = Hub(app, client, api, person, clock)
    hub.closed_contact("no_further_action")
    clock.advance(timedelta(days=6 * 365 + 3))
    assert scheduler.run_all_once(app)["list_retention_due"] == 1
    with _db(app).transaction() as session:
        review_id = str(session.scalar(select(RetentionReview.id)))
    assert addressed(app, "retention.review_due") == {
        ("lead@csc.example", "user", "csc"),
        ("lead@police.example", "user", "police"),
    }
    assert {m.object_id for m in messages(app, "retention.review_due")} == {review_id}


@pytest.mark.postgres
def test_only_the_system_reads_the_outbox_on_postgresql(app, client, police, database_url):
    """Anyone's unit of work may add a message; only delivery and operators' commands
    (the system) change them: an agency's session sees none to a mailbox, not even its own
    (those to its own people it reads: tests/functional/test_messages_page.py)."""
    from sqlalchemy import create_engine

    from tests.functional.test_row_level_security import visible

    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    contact_id = rated_contact(client, police, "red")
    assert ask(client, police, contact_id, "health").status_code == 201  # police added it
    engine = create_engine(database_url)
    try:
        # health's mailbox, and the event once for health's systems
        assert visible(engine, "system", "outbox_messages") == 2
        for agency in ("police", "csc", "health", None):
            assert visible(engine, agency, "outbox_messages") == 0
    finally:
        engine.dispose()
