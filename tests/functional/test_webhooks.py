"""Signed webhooks to agency systems, end to end with a receiver the test starts on
127.0.0.1: subscribing over the API and the command line (allow-list, kinds by scope),
a Red request to health delivered within one cycle as a signed CloudEvent holding no case
content, the receiver's check refusing a replay, a stale timestamp and a changed body,
retries and the dead letter, redirects not followed, and ended subscriptions."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mash_hub import runtime
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.crypto import resealing
from mash_hub.crypto.sealing import SealError
from mash_hub.db import Database
from mash_hub.notifications.services import notify
from mash_hub.outbox import delivery, webhooks
from mash_hub.outbox.models import OutboxMessage, WebhookSubscription
from tests.conftest import make_settings
from tests.functional.test_cli import run
from tests.functional.test_contacts_api import CANARY, token
from tests.functional.test_requests import ask, rated_contact, screening
from tests.webhook_receiver import webhook_receiver

REQUEST_KINDS = ["request.sent", "request.due_soon", "request.overdue"]


@pytest.fixture
def receiver():
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def settings(test_db_url, tmp_path, receiver):
    return make_settings(
        test_db_url,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_NOTIFICATIONS__BASE_URL="https://mash.example",
        MASH_NOTIFICATIONS__WEBHOOK_ALLOW=receiver.url("hooks/"),
        MASH_NOTIFICATIONS__MAX_ATTEMPTS="3",
        MASH_NOTIFICATIONS__FIRST_RETRY="30 seconds",
    )


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def _db(app) -> Database:
    return app.extensions["mash.db"]


def cycle(app) -> delivery.CycleResult:
    with app.app_context():
        return delivery.deliver_once(_db(app))


def cli(tmp_path, test_db_url, receiver, *args: str):
    done = run(
        list(args), tmp_path, test_db_url,
        MASH_NOTIFICATIONS__WEBHOOK_ALLOW=receiver.url("hooks/"),
    )  # fmt: skip
    done.output = done.stdout + done.stderr
    return done


def health_system(client, make_client):
    return token(client, make_client, "health", Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE)


def subscribe(client, headers, url, kinds=REQUEST_KINDS):
    return client.post("/api/v1/subscriptions", json={"url": url, "kinds": kinds}, headers=headers)


def webhook_rows(app) -> list[OutboxMessage]:
    with _db(app).transaction() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.channel == "webhook")
                .order_by(OutboxMessage.created_at)
            )
        )


def test_a_client_subscribes_lists_and_ends_its_own_and_each_is_audited(
    app, client, make_client, receiver
):
    health = health_system(client, make_client)
    made = subscribe(client, health, receiver.url("hooks/health"))
    assert made.status_code == 201, made.json
    assert made.json["kinds"] == REQUEST_KINDS
    assert made.json["secret"].startswith("whsec_")
    listed = client.get("/api/v1/subscriptions", headers=health).json["subscriptions"]
    assert listed == [{k: v for k, v in made.json.items() if k != "secret"}]
    assert "secret" not in json.dumps(listed)

    # Another client of the same agency neither sees nor ends it.
    other = health_system(client, make_client)
    assert client.get("/api/v1/subscriptions", headers=other).json["subscriptions"] == []
    gone = client.delete(f"/api/v1/subscriptions/{made.json['id']}", headers=other)
    assert gone.status_code == 404 and gone.json["error"] == "not_found"

    ended = client.delete(f"/api/v1/subscriptions/{made.json['id']}", headers=health)
    assert ended.status_code == 204
    assert client.get("/api/v1/subscriptions", headers=health).json["subscriptions"] == []
    again = client.delete(f"/api/v1/subscriptions/{made.json['id']}", headers=health)
    assert again.status_code == 404

    with _db(app).transaction() as session:
        kinds = [
            e.kind
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.object_id == made.json["id"])
                .order_by(AuditEvent.seq)
            )
        ]
        stored = session.get(WebhookSubscription, uuid.UUID(made.json["id"]))
        assert made.json["secret"].encode() not in stored.secret_sealed  # sealed, not kept
    assert kinds == ["webhook.subscribed", "webhook.ended"]


@pytest.mark.parametrize(
    ("url", "kinds", "field", "says"),
    [
        ("https://ehm.example/hooks/", REQUEST_KINDS, "url", "not on the hub's list"),
        ("{base}other/", REQUEST_KINDS, "url", "not on the hub's list"),
        ("{base}hooks/../admin", REQUEST_KINDS, "url", "'..'"),
        ("http://user:pw@127.0.0.1:1/hooks/", REQUEST_KINDS, "url", "credentials"),
        ("not a url", REQUEST_KINDS, "url", "https://"),
        (None, REQUEST_KINDS, "url", "enter the callback URL"),
        ("{base}hooks/x", [], "kinds", "give a list of kinds"),
        ("{base}hooks/x", "request.sent", "kinds", "give a list of kinds"),
        ("{base}hooks/x", ["request.sent", "contact.read"], "kinds", "unknown kinds"),
        ("{base}hooks/x", ["decision.approved"], "kinds", "scopes do not cover"),
    ],
)
def test_a_bad_subscription_is_refused_field_by_field_and_nothing_is_kept(
    app, client, make_client, receiver, url, kinds, field, says
):
    health = health_system(client, make_client)
    url = url.format(base=receiver.base) if isinstance(url, str) else url
    refused = subscribe(client, health, url, kinds)
    assert refused.status_code == 422
    assert refused.json["error"] == "validation_failed"
    assert says in refused.json["fields"][field]
    with _db(app).transaction() as session:
        assert session.scalars(select(WebhookSubscription)).all() == []


def test_a_host_that_only_starts_like_an_allowed_one_is_refused(client, make_client, receiver):
    health = health_system(client, make_client)
    lookalike = f"http://127.0.0.1:{receiver.port}0/hooks/x"
    assert subscribe(client, health, lookalike).status_code == 422
    assert client.post("/api/v1/subscriptions", json=["x"], headers=health).status_code == 422


def test_a_red_request_reaches_healths_system_signed_within_one_cycle(
    app, client, clock, make_client, police, receiver
):
    health = health_system(client, make_client)
    made = subscribe(client, health, receiver.url("hooks/health")).json
    police_system = token(client, make_client, "police", Scope.REQUESTS_READ)
    subscribe(client, police_system, receiver.url("hooks/police"))  # not asked: hears nothing

    contact_id = rated_contact(client, police, "red")
    sent = ask(client, police, contact_id, "health")
    assert sent.status_code == 201
    assert receiver.received() == []  # nothing leaves before the delivery process runs

    result = cycle(app)
    assert result.expanded == 1
    (delivered,) = receiver.received()
    assert delivered.path == "/hooks/health"
    assert delivered.headers["Content-Type"] == "application/cloudevents+json"
    seen: set[str] = set()
    now = clock.now().timestamp()
    event = webhooks.verify(made["secret"], delivered.headers, delivered.body, now=now, seen=seen)
    assert event["specversion"] == "1.0"
    assert event["type"] == "uk.mash-hub.request.sent"
    assert event["source"] == "https://mash.example"
    assert event["id"] == delivered.headers["Webhook-Id"]
    assert event["subject"] == f"InfoRequest/{sent.json['id']}"
    data = event["data"]
    assert data["object_id"] == sent.json["id"]
    assert data["agency"] == "health" and data["agency_name"] == "Health"
    assert data["due_at"] == sent.json["due_at"]  # UTC, like the API: two hours for Red
    assert data["link"] == f"https://mash.example/requests/{sent.json['id']}"
    assert data["contact_reference"].startswith("MASH-")
    assert set(data) == {
        "kind", "object_type", "object_id", "contact_reference", "agency", "agency_name",
        "due_at", "link",
    }  # fmt: skip
    assert CANARY not in delivered.body.decode()  # the concern's marker

    # The receiver's check, as the README documents it.
    with pytest.raises(webhooks.WebhookRefused, match="already received"):
        webhooks.verify(made["secret"], delivered.headers, delivered.body, now=now, seen=seen)
    with pytest.raises(webhooks.WebhookRefused, match="too far"):
        webhooks.verify(
            made["secret"], delivered.headers, delivered.body, now=now + 301, seen=set()
        )
    with pytest.raises(webhooks.WebhookRefused, match="bad signature"):
        webhooks.verify(
            made["secret"], delivered.headers, delivered.body.replace(b"health", b"police"),
            now=now, seen=set(),
        )  # fmt: skip
    with pytest.raises(webhooks.WebhookRefused, match="bad signature"):
        other_secret = subscribe(client, health, receiver.url("hooks/x")).json["secret"]
        webhooks.verify(other_secret, delivered.headers, delivered.body, now=now, seen=set())

    assert cycle(app).sent == 0  # sent once
    assert [r.state for r in webhook_rows(app)] == ["sent"]


def test_an_event_told_to_two_roles_of_an_agency_reaches_its_system_once(
    app, client, make_client, receiver
):
    health = health_system(client, make_client)
    subscribe(client, health, receiver.url("hooks/health"))
    request_id = str(uuid.uuid4())
    with app.app_context(), _db(app).transaction() as session:
        for role in (Role.AGENCY_RESEARCHER, Role.GOVERNANCE_LEAD):
            notify(
                session,
                agency="health",
                role=role,
                kind="request.overdue",
                object_type="InfoRequest",
                object_id=request_id,
                contact_reference="MASH-2026-000001",
            )
    cycle(app)
    assert len(receiver.received()) == 1


def test_a_failing_system_is_retried_with_backoff_then_dead_and_can_be_retried(
    app, client, clock, make_client, police, receiver, tmp_path, test_db_url
):
    health = health_system(client, make_client)
    subscribe(client, health, receiver.url("hooks/health"))
    ask(client, police, rated_contact(client, police, "red"), "health")
    receiver.status = 503
    assert cycle(app).retried == 1
    assert cycle(app).claimed == 0  # waits 30 seconds
    clock.advance(timedelta(seconds=30))
    assert cycle(app).retried == 1
    clock.advance(timedelta(seconds=60))  # doubled
    assert cycle(app).dead == 1
    (row,) = webhook_rows(app)
    assert row.state == "dead" and row.attempts == 3 and "503" in row.last_error
    ids = {d.headers["Webhook-Id"] for d in receiver.received()}
    assert ids == {row.idempotency_key}  # every attempt under one id

    receiver.status = 200
    out = cli(tmp_path, test_db_url, receiver, "notifications", "retry", str(row.id))
    assert out.returncode == 0, out.output
    # Due from the moment of the retry, on the command's (real) clock.
    clock.advance(max(timedelta(0), datetime.now(UTC) - clock.now()) + timedelta(seconds=1))
    assert cycle(app).sent == 1
    assert len(receiver.received()) == 4


@pytest.mark.parametrize(("status", "location"), [(410, None), (302, "https://evil.example/")])
def test_a_refusal_or_a_redirect_is_dead_at_once_and_never_followed(
    app, client, make_client, police, receiver, status, location
):
    health = health_system(client, make_client)
    subscribe(client, health, receiver.url("hooks/health"))
    ask(client, police, rated_contact(client, police, "red"), "health")
    receiver.status, receiver.location = status, location
    assert cycle(app).dead == 1
    assert len(receiver.received()) == 1


def test_an_ended_subscription_gets_nothing_more(app, client, make_client, police, receiver):
    health = health_system(client, make_client)
    made = subscribe(client, health, receiver.url("hooks/health")).json
    ask(client, police, rated_contact(client, police, "red"), "health")
    # A first claim turns the event into a delivery; the subscription ends before it goes.
    with app.app_context():
        claimed, dead, expanded = delivery.claim(
            _db(app), runtime.settings().notifications, "https://mash.example", runtime.now(), 100
        )
    assert (len(claimed), expanded) == (0, 1)
    assert client.delete(f"/api/v1/subscriptions/{made['id']}", headers=health).status_code == 204
    result = cycle(app)
    assert result.dead == 1 and receiver.received() == []
    (row,) = webhook_rows(app)
    assert row.last_error == "the subscription was ended before delivery"


def test_the_command_line_subscribes_a_client_and_ends_it(
    make_client, receiver, tmp_path, test_db_url
):
    client_id, _ = make_client("health", frozenset({Scope.REQUESTS_READ}))
    url = receiver.url("hooks/cli")
    out = cli(
        tmp_path, test_db_url, receiver,
        "clients", "subscribe", client_id, "--url", url, "--kinds", "request.sent,request.overdue",
    )  # fmt: skip
    assert out.returncode == 0, out.output
    assert "signing secret (shown once): whsec_" in out.output
    ident = out.output.split("subscription: ")[1].split()[0]
    listed = cli(tmp_path, test_db_url, receiver, "clients", "subscriptions", client_id)
    assert ident in listed.output and "request.sent request.overdue" in listed.output
    refused = cli(
        tmp_path, test_db_url, receiver, "clients", "subscribe", client_id, "--url", "https://elsewhere.example/",
        "--kinds", "request.sent",
    )  # fmt: skip
    assert refused.returncode != 0 and "not on the hub's list" in refused.output
    ended = cli(tmp_path, test_db_url, receiver, "clients", "unsubscribe", ident)
    assert ended.returncode == 0, ended.output
    listed = cli(tmp_path, test_db_url, receiver, "clients", "subscriptions", client_id)
    assert listed.output.strip() == ""


def test_revoking_a_client_ends_its_subscriptions(
    app, client, make_client, receiver, tmp_path, test_db_url
):
    client_id, secret = make_client("health", frozenset({Scope.REQUESTS_READ}))
    got = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    headers = {"Authorization": f"Bearer {got.json['access_token']}"}
    assert subscribe(client, headers, receiver.url("hooks/health")).status_code == 201
    assert cli(tmp_path, test_db_url, receiver, "clients", "revoke", client_id).returncode == 0
    with app.app_context(), _db(app).transaction() as session:
        assert webhooks.active(session, client_id) == []


def test_a_master_key_rotation_reseals_the_secrets(app, client, make_client, receiver):
    health = health_system(client, make_client)
    made = subscribe(client, health, receiver.url("hooks/health")).json
    new = bytes(range(32))
    with app.app_context(), pytest.raises(RuntimeError), _db(app).transaction() as session:
        master = runtime.master_key()
        assert webhooks.reseal_secrets(session, master, new) == 1
        assert webhooks.reseal_secrets(session, master, new) == 0  # a re-run changes nothing
        row = session.get(WebhookSubscription, uuid.UUID(made["id"]))
        with pytest.raises(SealError):  # no longer opens under the old key
            webhooks.secret_of(row)
        raise RuntimeError("roll back: the test's app keeps the old key")
    assert "webhook_subscriptions.secret_sealed" in resealing.registered()


@pytest.mark.postgres
def test_an_agency_sees_only_its_own_systems_subscriptions_on_postgresql(
    client, make_client, receiver, database_url
):
    from sqlalchemy import create_engine

    from tests.functional.test_row_level_security import visible

    if not database_url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's (set MASH_TEST_DATABASE_URL)")
    health = health_system(client, make_client)
    assert subscribe(client, health, receiver.url("hooks/health")).status_code == 201
    engine = create_engine(database_url)
    try:
        assert visible(engine, "system", "webhook_subscriptions") == 1
        assert visible(engine, "health", "webhook_subscriptions") == 1
        for agency in ("police", "csc", "housing", None):
            assert visible(engine, agency, "webhook_subscriptions") == 0
    finally:
        engine.dispose()
