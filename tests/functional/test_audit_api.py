"""`GET /api/v1/audit/events`: JSON lines of the trail for SIEM tools, under clause 8.3."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Scope
from mash_hub.db import Database
from tests.functional.test_contacts_api import CONTACT, token
from tests.functional.test_governance import add_events, read_draft

CONTRACT_FIELDS = {
    "seq",
    "at",
    "actor",
    "agency",
    "action",
    "object_type",
    "object_id",
    "contact_id",
    "decision",
    "isa_id",
    "clause",
    "policy_ids",
    "reason",
    "hash",
}


def test_events_carry_the_contract_fields_and_the_read_is_audited(client, make_client, app):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE)
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police).json
    auditor = token(client, make_client, "police", Scope.AUDIT_READ)

    response = client.get(f"/api/v1/audit/events?contact_id={created['id']}", headers=auditor)
    assert response.status_code == 200
    (event,) = response.json["events"]
    assert set(event) >= CONTRACT_FIELDS
    assert event["action"] == "contact:create"
    assert event["decision"] == "allow"
    assert event["contact_id"] == created["id"]
    assert event["isa_id"] == "ISA-MASH-CORE"
    assert response.json["next_cursor"] is None
    assert "Sam" not in response.text and "Smith" not in response.text  # ids, no names

    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit:read")).all()
    assert [(r.actor_type, r.agency, r.decision) for r in reads] == [("client", "police", "allow")]


def test_a_partner_client_sees_only_its_own_agencys_events(client, make_client, app):
    own, other = uuid.uuid4(), uuid.uuid4()
    contact_id = str(uuid.uuid4())
    add_events(app, [read_draft(own, "health", contact_id), read_draft(other, "csc", contact_id)])
    auditor = token(client, make_client, "health", Scope.AUDIT_READ)
    response = client.get("/api/v1/audit/events?action=contact:read", headers=auditor)
    assert response.status_code == 200
    assert {e["actor"] for e in response.json["events"]} == {str(own)}


def test_cursor_paging_returns_every_event_once_newest_first(client, make_client, app):
    actor = uuid.uuid4()
    add_events(app, [read_draft(actor, "csc", str(uuid.uuid4())) for _ in range(7)])
    auditor = token(client, make_client, "csc", Scope.AUDIT_READ)
    seen: list[int] = []
    path = f"/api/v1/audit/events?actor={actor}&limit=3"
    while True:
        page = client.get(path, headers=auditor).json
        seen += [e["seq"] for e in page["events"]]
        if page["next_cursor"] is None:
            break
        path = f"/api/v1/audit/events?actor={actor}&limit=3&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)


def test_filters_by_decision_and_time(client, make_client, app, clock):
    actor = uuid.uuid4()
    add_events(app, [read_draft(actor, "csc", str(uuid.uuid4()), decision="deny")])
    since = clock.now().isoformat()
    add_events(app, [read_draft(actor, "csc", str(uuid.uuid4()))])
    auditor = token(client, make_client, "csc", Scope.AUDIT_READ)
    denied = client.get(f"/api/v1/audit/events?actor={actor}&decision=deny", headers=auditor)
    assert [e["decision"] for e in denied.json["events"]] == ["deny"]
    later = client.get(
        f"/api/v1/audit/events?actor={actor}&since=2099-01-01T00:00:00Z", headers=auditor
    )
    assert later.json["events"] == []
    both = client.get(
        "/api/v1/audit/events",
        query_string={"actor": str(actor), "since": since},
        headers=auditor,
    )
    assert len(both.json["events"]) == 2


def test_bad_filters_get_field_errors(client, make_client):
    auditor = token(client, make_client, "csc", Scope.AUDIT_READ)
    response = client.get(
        "/api/v1/audit/events",
        query_string={
            "limit": "0",
            "since": "yesterday",
            "decision": "maybe",
            "agency": "mi5",
            "cursor": "abc",
            "colour": "red",
        },
        headers=auditor,
    )
    assert response.status_code == 422
    assert set(response.json["fields"]) == {
        "limit", "since", "decision", "agency", "cursor", "colour"
    }  # fmt: skip


def test_a_client_without_audit_scope_is_refused(client, make_client):
    screening = token(client, make_client, "csc", Scope.SCREENING_READ)
    response = client.get("/api/v1/audit/events", headers=screening)
    assert response.status_code == 403
    assert set(response.json) >= {"error", "message"}
