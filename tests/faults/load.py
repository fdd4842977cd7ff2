"""A small, bounded load of contact intakes against the served hub, and the checks the
fault review ran after each scenario: every 201 stored whole, with its subjects and its
allow event; nothing stored for a call that failed."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select

from mash_hub.audit.models import AuditEvent
from mash_hub.contacts.models import Contact, ContactSubject
from mash_hub.db import Database
from tests.functional.test_contacts_api import CONTACT
from tests.served import Served

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


def token(hub: Served, client: dict) -> str:
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
    answer, body = hub.get(
        "/oauth/token",
        "POST",
        urlencode({"grant_type": "client_credentials"}).encode(),
        **{
            "Authorization": f"Basic {basic.decode()}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert answer.status == 200, body
    return str(json.loads(body)["access_token"])


def received(n: int) -> datetime:
    """Call n's contact is received at a time of its own (a column kept in clear)."""
    return EPOCH + timedelta(minutes=n)


def intake(hub: Served, bearer: str, n: int) -> tuple[int, dict]:
    body = {**CONTACT, "received_at": received(n).strftime("%Y-%m-%dT%H:%M:%SZ")}
    answer, reply = hub.get(
        "/api/v1/contacts",
        "POST",
        json.dumps(body).encode(),
        **{"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
    )
    return answer.status, json.loads(reply)


def stored(url: str) -> dict[datetime, tuple[str, int, int]]:
    """Each stored contact by received time: (id, subjects, contact:create allows)."""
    database = Database(url)
    try:
        with database.transaction() as db:
            found = {}
            for contact in db.scalars(select(Contact)):
                subjects = db.scalar(
                    select(func.count())
                    .select_from(ContactSubject)
                    .where(ContactSubject.contact_id == contact.id)
                )
                allows = db.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(
                        AuditEvent.object_id == str(contact.id),
                        AuditEvent.action == "contact:create",
                        AuditEvent.decision == "allow",
                    )
                )
                found[contact.received_at] = (str(contact.id), int(subjects), int(allows))
            return found
    finally:
        database.dispose()


def check_whole(url: str, answered: dict[int, str], unanswered: set[int]) -> None:
    """`answered`: call -> the id its 201 gave. `unanswered`: calls cut off with no answer,
    which may or may not have committed, but never in part. Every other call failed and
    must have left nothing."""
    contacts = stored(url)
    for n, contact_id in answered.items():
        assert contacts.get(received(n), (None,))[0] == contact_id, n
    for at, (contact_id, subjects, allows) in contacts.items():
        n = int((at - EPOCH).total_seconds() // 60)
        assert n in answered or n in unanswered, f"call {n} failed but stored {contact_id}"
        assert (subjects, allows) == (2, 1), (n, subjects, allows)


def wait_for(check: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    """The first truthy answer of `check`, asked every 0.2 s, or fail naming `what`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting: {what}")
