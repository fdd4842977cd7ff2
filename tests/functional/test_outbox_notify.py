"""GOV.UK Notify as the channel: the exact requests `notifications-python-client` makes,
checked by a local HTTP server standing in for the service (which is not reachable here)."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from sqlalchemy import select

from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from mash_hub.outbox import delivery
from mash_hub.outbox.models import OutboxMessage
from tests.conftest import make_settings
from tests.functional.test_contacts_api import CANARY
from tests.functional.test_requests import ask, rated_contact, screening

SERVICE_ID = str(uuid.uuid4())
SECRET = str(uuid.uuid4())
API_KEY = f"mash_hub_test-{SERVICE_ID}-{SECRET}"
TEMPLATE = str(uuid.uuid4())
HEALTH_MAILBOX = "mash-health@nhs.example"


class FakeNotify:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 201
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers["Content-Length"])
                owner.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                answer = (
                    {"id": str(uuid.uuid4()), "reference": owner.requests[-1]["body"]["reference"]}
                    if owner.status == 201
                    else {"errors": [{"error": "Error", "message": "no"}], "status_code": 0}
                )
                data = json.dumps(answer).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def notify_service():
    service = FakeNotify()
    yield service
    service.stop()


@pytest.fixture
def settings(test_db_url, tmp_path, notify_service):
    return make_settings(
        test_db_url,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_NOTIFICATIONS__NOTIFY_API_KEY=API_KEY,
        MASH_NOTIFICATIONS__NOTIFY_BASE_URL=notify_service.url,
        MASH_NOTIFICATIONS__TEMPLATES__REQUEST_SENT=TEMPLATE,
        MASH_NOTIFICATIONS__MAILBOXES__HEALTH=HEALTH_MAILBOX,
        MASH_NOTIFICATIONS__BASE_URL="https://mash.example",
    )


@pytest.fixture
def police(client, make_client):
    return screening(client, make_client)


def cycle(app) -> delivery.CycleResult:
    with app.app_context():
        return delivery.deliver_once(app.extensions["mash.db"])


def rows(app) -> list[OutboxMessage]:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email")))


def test_each_message_is_one_notify_email_request_with_its_template_and_reference(
    app, client, police, notify_service
):
    assert app.extensions["mash.settings"].notifications.chosen_channel() == "notify"
    contact_id = rated_contact(client, police, "red")
    request_id = ask(client, police, contact_id, "health").json["id"]
    assert cycle(app).sent == 1

    (sent,) = notify_service.requests
    (message,) = rows(app)
    assert sent["path"] == "/v2/notifications/email"
    assert sent["headers"]["Content-type"] == "application/json"
    assert sent["headers"]["User-agent"].startswith("NOTIFY-API-PYTHON-CLIENT/")
    scheme, token = sent["headers"]["Authorization"].split(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["iss"] == SERVICE_ID and isinstance(claims["iat"], int)
    reference = message.contact_reference
    assert sent["body"] == {
        "email_address": HEALTH_MAILBOX,
        "template_id": TEMPLATE,
        "reference": message.idempotency_key,
        "personalisation": {
            "subject": f"MASH Hub: Information request for your agency ({reference})",
            "summary": "The MASH has sent your agency an information request; answer it in "
            "the hub before it is due",
            "reference": reference,
            "agency": "Health",
            "due": "30 November 2026 at midday (UK time)",
            "link": f"https://mash.example/requests/{request_id}",
            "message_reference": message.idempotency_key,
        },
    }
    assert CANARY not in json.dumps(sent["body"])
    assert message.state == "sent"


def test_notify_failures_are_retried_or_dead_by_status(
    app, client, clock, police, notify_service, make_account
):
    from datetime import timedelta

    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")
    notify_service.status = 500
    assert cycle(app).retried == 1
    notify_service.status = 400  # a request Notify will never accept
    clock.advance(timedelta(minutes=1))
    assert cycle(app).dead == 1
    assert len(notify_service.requests) == 2
    assert {(m.state, m.attempts) for m in rows(app)} == {("dead", 2)}


def test_a_kind_without_a_template_is_dead_without_a_request(
    app, client, clock, police, notify_service, make_account
):
    from datetime import timedelta

    make_account(Role.MASH_MANAGER, "csc", email="manager@csc.example")
    contact_id = rated_contact(client, police, "red")
    ask(client, police, contact_id, "health")
    assert cycle(app).sent == 1
    clock.advance(timedelta(hours=2, minutes=1))
    from mash_hub import scheduler

    scheduler.run_job(app, scheduler.JOBS[0])  # expire: request.overdue, no template
    result = cycle(app)
    assert result.dead == 2 and result.sent == 0  # the manager and the mailbox
    assert len(notify_service.requests) == 1
    dead = [m for m in rows(app) if m.state == "dead"]
    assert {m.last_error for m in dead} == {"no Notify template for request.overdue"}
