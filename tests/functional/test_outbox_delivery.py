"""Delivery end to end, to a real SMTP server the test starts (aiosmtpd on 127.0.0.1): a
Red request reaches the asked agency's mailbox within one delivery cycle; a failing
server is retried with backoff and then dead-lettered, where an administrator sees it and
sends it again; a delivery that dies after claiming loses nothing and, by its
idempotency key, delivers nothing twice."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.outbox import delivery
from mash_hub.outbox.channels import SmtpChannel
from mash_hub.outbox.models import OutboxMessage
from tests.conftest import make_settings
from tests.functional.test_cli import run
from tests.functional.test_contacts_api import CANARY
from tests.functional.test_requests import ask, rated_contact, screening
from tests.smtp_sink import smtp_sink

HEALTH_MAILBOX = "mash-health@nhs.example"


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
        MASH_NOTIFICATIONS__MAILBOXES__HEALTH=HEALTH_MAILBOX,
        MASH_NOTIFICATIONS__BASE_URL="https://mash.example",
        MASH_NOTIFICATIONS__MAX_ATTEMPTS="3",
        MASH_NOTIFICATIONS__FIRST_RETRY="30 seconds",
        MASH_NOTIFICATIONS__LEASE="2 minutes",
    )


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def _db(app) -> Database:
    return app.extensions["mash.db"]


def cycle(app, **kwargs) -> delivery.CycleResult:
    with app.app_context():
        return delivery.deliver_once(_db(app), **kwargs)


def states(app) -> dict[str, tuple[str, int]]:
    with _db(app).transaction() as session:
        return {
            m.recipient: (m.state, m.attempts)
            for m in session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email"))
        }


def keys(app) -> set[str]:
    with _db(app).transaction() as session:
        return {
            f"<{k}>"
            for k in session.scalars(
                select(OutboxMessage.idempotency_key).where(OutboxMessage.channel == "email")
            )
        }


def test_a_red_request_reaches_healths_mailbox_within_one_cycle(
    app, client, police, sink, make_account
):
    make_account(Role.AGENCY_RESEARCHER, "health", email="res@nhs.example")
    contact_id = rated_contact(client, police, "red")
    request_id = ask(client, police, contact_id, "health").json["id"]

    result = cycle(app)

    assert result.sent == 2 and result.retried == result.dead == 0
    (mail,) = sink.handler.to(HEALTH_MAILBOX)
    assert len(sink.handler.to("res@nhs.example")) == 1
    reference = re.search(r"MASH-\d{4}-\d{6}", mail.message["Subject"]).group(0)
    assert mail.message["Subject"] == (
        f"MASH Hub: Information request for your agency ({reference})"
    )
    body = mail.message.get_content()
    assert f"Contact reference: {reference}" in body
    assert "Agency: Health" in body
    assert "Due: 30 November 2026 at midday (UK time)" in body  # asked at 10am, Red: 2 hours
    assert f"https://mash.example/requests/{request_id}" in body
    assert mail.message_id in keys(app)
    assert CANARY not in mail.text and "Is the family known to you?" not in mail.text
    assert set(states(app).values()) == {("sent", 1)}
    assert cycle(app).sent == 0  # nothing is sent twice


def test_a_failing_server_is_retried_with_backoff_then_dead_lettered_and_retried_by_hand(
    app, client, clock, police, sink, tmp_path, test_db_url
):
    sink.handler.refuse_with = "451 4.3.0 Mailbox busy, try again later"
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")

    assert cycle(app).retried == 1
    assert states(app) == {HEALTH_MAILBOX: ("queued", 1)}
    clock.advance(timedelta(seconds=29))
    assert cycle(app).claimed == 0  # backing off: 30 seconds after the first failure
    clock.advance(timedelta(seconds=1))
    assert cycle(app).retried == 1
    clock.advance(timedelta(seconds=59))
    assert cycle(app).claimed == 0  # then 60 seconds
    clock.advance(timedelta(seconds=1))
    assert cycle(app).dead == 1  # the third and last attempt
    assert states(app) == {HEALTH_MAILBOX: ("dead", 3)}
    clock.advance(timedelta(hours=2))
    assert cycle(app).claimed == 0  # dead stays dead
    assert sink.received == []

    listed = run(["notifications", "list", "--state", "dead"], tmp_path, test_db_url)
    assert listed.returncode == 0, listed.stderr
    assert "dead 1" in listed.stdout
    (line,) = [line for line in listed.stdout.splitlines() if "request.sent" in line]
    assert "mailbox of health" in line and "451" in line
    assert HEALTH_MAILBOX not in listed.stdout  # ids and kinds only
    message_id = line.split()[0]

    sink.handler.refuse_with = None
    retried = run(["notifications", "retry", message_id], tmp_path, test_db_url)
    assert retried.returncode == 0, retried.stderr
    assert states(app) == {HEALTH_MAILBOX: ("queued", 0)}
    # Due from the moment of the retry, on the command's (real) clock.
    clock.advance(max(timedelta(0), datetime.now(UTC) - clock.now()) + timedelta(seconds=1))
    assert cycle(app).sent == 1
    assert len(sink.handler.to(HEALTH_MAILBOX)) == 1
    again = run(["notifications", "retry", message_id], tmp_path, test_db_url)
    assert again.returncode == 1 and "not dead" in again.stderr


def test_a_refused_address_is_dead_at_once(app, client, police, sink):
    sink.handler.refuse_with = "550 5.1.1 No such mailbox"
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")
    assert cycle(app).dead == 1
    assert states(app) == {HEALTH_MAILBOX: ("dead", 1)}


class Died(BaseException):
    """The delivery process ending abruptly (as by SIGKILL): nothing after it runs."""


def test_a_delivery_killed_after_claiming_loses_nothing_and_sends_nothing_twice(
    app, client, clock, police, sink, make_account
):
    for n in range(3):
        make_account(Role.AGENCY_RESEARCHER, "health", email=f"res{n}@nhs.example")
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")

    def die(_claimed):
        raise Died

    with pytest.raises(Died):
        cycle(app, after_claim=die)
    assert {state for state, _ in states(app).values()} == {"sending"}
    assert cycle(app).claimed == 0  # held by the dead process's lease
    clock.advance(timedelta(minutes=2))
    assert cycle(app).sent == 4
    assert sorted(r.message_id for r in sink.received) == sorted(keys(app))  # once each
    assert cycle(app).claimed == 0


def test_killed_between_sending_and_recording_the_repeat_has_the_same_message_id(
    app, client, clock, police, sink
):
    """The one window no outbox can close: the server took the message, and the process
    died before recording it. The repeat carries the same Message-ID, which receivers
    drop, so the reader still gets it once."""
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")
    with app.app_context():
        channel = SmtpChannel(app.extensions["mash.settings"].notifications)

        class DiesAfterSending:
            name = "smtp"

            def send(self, email):
                channel.send(email)
                raise Died

            def close(self):
                channel.close()

        try:
            with pytest.raises(Died):
                delivery.deliver_once(_db(app), channel=DiesAfterSending())
        finally:
            channel.close()
    clock.advance(timedelta(minutes=2))
    assert cycle(app).sent == 1
    ids = [r.message_id for r in sink.received]
    assert len(ids) == 2 and len(set(ids)) == 1 and set(ids) == keys(app)


def test_the_scheduler_delivers_as_one_of_its_jobs(app, client, police, sink):
    from mash_hub import scheduler

    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")
    assert scheduler.run_all_once(app)["deliver_notifications"] == 1
    assert len(sink.handler.to(HEALTH_MAILBOX)) == 1
