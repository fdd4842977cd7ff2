"""The referrer is told by email (issue #14 item 5): when an outcome is approved and the
referrer left an email address, the hub emails them that their contact was considered
(never the outcome or any details) and records the acknowledgement once the email is
sent; when it cannot be sent the screeners are told, and they tell the referrer another
way as before. Delivered to a real SMTP server the test starts."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from mash_hub import scheduler
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import Contact, ContactDecision, ReferrerAcknowledgement
from mash_hub.db import Database
from mash_hub.notifications.models import Notification
from mash_hub.outbox.delivery import FORGOTTEN
from mash_hub.outbox.models import OutboxMessage
from tests.conftest import make_settings
from tests.functional.test_contacts_api import CANARY, CONTACT
from tests.smtp_sink import smtp_sink

REFERRER = "pat.caller@example.org"
REPLY_TO = "the MASH on 01234 567890"


@pytest.fixture
def sink():
    with smtp_sink() as running:
        yield running


@pytest.fixture
def settings(test_db_url, tmp_path, sink):
    return make_settings(
        test_db_url,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_NOTIFICATIONS__SMTP_URL=sink.url,
        MASH_NOTIFICATIONS__REFERRER_REPLY_TO=REPLY_TO,
        MASH_NOTIFICATIONS__MAX_ATTEMPTS="1",
    )


def _db(app) -> Database:
    return app.extensions["mash.db"]


def new_contact(client, api, email: str | None = REFERRER) -> str:
    body = copy.deepcopy(CONTACT)
    if email is not None:
        body["source"]["email"] = email
    created = client.post("/api/v1/contacts", json=body, headers=api)
    assert created.status_code == 201, created.json
    rated = client.post(
        f"/api/v1/contacts/{created.json['id']}/rating",
        json={"rag": "amber", "rationale": "Partner checks needed"},
        headers=api,
    )
    assert rated.status_code == 200
    return created.json["id"]


def approve(app, screener, manager, contact_id, verdict="approved"):
    path = f"/contacts/{contact_id}/decision"
    proposed = screener.post_form(
        path, {"outcome": "no_further_action", "rationale": "Known family, support in place"}
    )
    assert proposed.status_code == 302
    with _db(app).transaction() as session:
        pending = session.scalar(
            select(ContactDecision.id)
            .where(ContactDecision.contact_id == uuid.UUID(contact_id))
            .order_by(ContactDecision.proposed_at.desc())
        )
    body = {"decision_id": str(pending), "verdict": verdict}
    if verdict == "returned":
        body["reason"] = "Check the school first"
    reviewed = manager.post_form(f"{path}/review", body, page=path)
    assert reviewed.status_code == 302


def referrer_messages(app) -> list[OutboxMessage]:
    with _db(app).transaction() as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "referrer.outcome"))
        )


def status(app, contact_id) -> str:
    with _db(app).transaction() as session:
        return session.get(Contact, uuid.UUID(contact_id)).status


def test_an_approved_outcome_emails_the_referrer_and_records_it_once_sent(
    app, client, api, screener, manager, contact_id, sink
):
    contact_id = new_contact(client, api)
    approve(app, screener, manager, contact_id)
    (queued,) = referrer_messages(app)
    assert (queued.recipient, queued.state, queued.recipient_agency) == (
        REFERRER,
        "queued",
        "police",  # the proposer's screeners, who would otherwise tell the referrer
    )
    page = screener.get(f"/contacts/{contact_id}/decision").text
    assert 'id="referrer-emailed"' in page and "Tell the referrer" in page
    assert status(app, contact_id) == "decided"  # not told until the email goes

    scheduler.run_all_once(app)

    (email,) = sink.handler.to(REFERRER)
    reference = queued.contact_reference
    assert reference in email.message["Subject"]
    assert REPLY_TO in email.text and reference in email.text
    for secret in (CANARY, "no_further_action", "No further action", "Known family", "Sam"):
        assert secret not in email.text + str(email.message)
    assert "http" not in email.text  # the referrer cannot sign in: no link
    assert status(app, contact_id) == "closed"
    with _db(app).transaction() as session:
        told = session.scalar(select(ReferrerAcknowledgement))
        assert (told.method, told.recorded_by) == ("email", "scheduler")
        (sent,) = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "referrer.outcome")
        ).all()
        assert sent.state == "sent" and told.told_at == sent.sent_at
        assert sent.recipient == FORGOTTEN  # the address stays only in the sealed contact
        kinds = [
            (e.kind, e.actor_id, e.reason)
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.kind.in_(["referrer.email_queued", "referrer.acknowledged"]))
                .order_by(AuditEvent.seq)
            )
        ]
    assert [k for k, _, _ in kinds] == ["referrer.email_queued", "referrer.acknowledged"]
    assert kinds[1][1:] == ("scheduler", "email sent")
    # Run again: nothing more is sent or recorded.
    assert scheduler.run_all_once(app)["record_referrer_emails"] == 0
    assert len(sink.handler.to(REFERRER)) == 1


def test_without_an_email_address_the_screener_is_prompted_as_before(
    app, client, api, screener, manager, contact_id
):
    contact_id = new_contact(client, api, email=None)
    approve(app, screener, manager, contact_id)
    assert referrer_messages(app) == []
    assert 'id="referrer-emailed"' not in screener.get(f"/contacts/{contact_id}/decision").text
    scheduler.run_all_once(app)
    assert status(app, contact_id) == "decided"


def test_a_returned_outcome_emails_nobody(app, client, api, screener, manager, contact_id):
    contact_id = new_contact(client, api)
    approve(app, screener, manager, contact_id, verdict="returned")
    assert referrer_messages(app) == []


def test_an_email_that_cannot_be_sent_tells_the_screeners_once_and_they_tell_the_referrer(
    app, client, api, screener, manager, contact_id, sink, clock
):
    sink.handler.refuse_with = "550 5.1.1 No such mailbox"
    contact_id = new_contact(client, api)
    approve(app, screener, manager, contact_id)
    scheduler.run_all_once(app)
    scheduler.run_all_once(app)
    assert status(app, contact_id) == "decided"
    with _db(app).transaction() as session:
        told = session.scalars(
            select(Notification).where(Notification.kind == "referrer.email_failed")
        ).all()
    assert [(n.recipient_agency, n.recipient_role, n.object_id) for n in told] == [
        ("police", Role.SCREENER.value, contact_id)
    ]
    with _db(app).transaction() as session:
        emailed = session.scalars(
            select(OutboxMessage.recipient).where(OutboxMessage.kind == "referrer.email_failed")
        ).all()
    assert emailed == [screener.account.email]  # and by email (refused here too)
    messages = screener.get("/account/messages").text
    assert "telling a referrer that their contact was considered could not be sent" in messages
    clock.advance(timedelta(minutes=10))
    recorded = screener.post_form(
        f"/contacts/{contact_id}/acknowledgement",
        {"method": "phone", "told_date": "30/11/2026", "told_time": "10:05"},
        page=f"/contacts/{contact_id}/decision",
    )
    assert recorded.status_code == 302
    assert status(app, contact_id) == "closed"
