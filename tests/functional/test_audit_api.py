"""GET /api/v1/audit/events: a governance client pulls its agency's trail, filtered and
paged, with each event's chain hash; the pull itself is audited."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from mash_hub.agencies import AGENCIES
from mash_hub.audit.models import AuditEvent
from mash_hub.audit.sealer import run_once
from mash_hub.audit.services import MASH_CORE
from mash_hub.authz.permissions import Scope
from mash_hub.db import Database
from tests.functional.test_contacts_api import CONTACT, token
from tests.functional.test_governance import add_events, read_draft

EVENTS = "/api/v1/audit/events"


@pytest.fixture
def governance(client, make_client):
    return token(client, make_client, "police", Scope.AUDIT_READ)


@pytest.fixture
def contacts(client, make_client):
    """Two police contacts created and read over the API: each leaves audit events."""
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)
    made = []
    for _ in range(2):
        created = client.post("/api/v1/contacts", json=CONTACT, headers=police)
        assert created.status_code == 201
        assert client.get(f"/api/v1/contacts/{created.json['id']}", headers=police).status_code
        made.append(created.json["id"])
    assert client.get("/api/v1/contacts/no-such-id", headers=police).status_code == 404
    return made


def stored(app) -> list[AuditEvent]:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_lists_the_agencys_events_with_their_chain_hash(
    app, client, settings, clock, governance, contacts
):
    clock.advance(timedelta(seconds=1))
    run_once(app.extensions["mash.db"], settings, clock.now(), force=True)
    before = [e for e in stored(app) if e.agency == "police"]
    response = client.get(EVENTS, headers=governance)
    assert response.status_code == 200
    body = response.json
    assert body["next_cursor"] is None
    # Every earlier event of the agency, then this pull's own (allowed) audit event.
    assert [e["seq"] for e in body["events"]][:-1] == [e.seq for e in before]
    assert body["events"][-1]["action"] == "audit:read"
    first = body["events"][0]
    assert first["hash"] == before[0].hash and len(first["hash"]) == 64
    assert set(first) >= {
        "seq", "at", "actor", "agency", "action", "object_type", "object_id", "contact_id",
        "decision", "isa_id", "clause", "policy_ids", "reason", "hash",
    }  # fmt: skip
    assert {e["contact_id"] for e in body["events"] if e["contact_id"]} >= set(contacts)
    assert any(e["reason"] == "not_found" and e["decision"] == "deny" for e in body["events"])


def test_the_pull_is_itself_audited_and_unsealed_events_show_no_hash(
    app, client, governance, contacts
):
    response = client.get(EVENTS, headers=governance)
    assert all(e["hash"] is None for e in response.json["events"])
    last = stored(app)[-1]
    assert (last.action, last.object_type, last.object_id, last.decision) == (
        "audit:read",
        "AuditLog",
        "police",
        "allow",
    )
    assert response.json["events"][-1]["seq"] == last.seq
    again = client.get(EVENTS, headers=governance).json["events"]
    assert again[-1]["seq"] == last.seq + 1 and again[-1]["action"] == "audit:read"


def test_filters(app, client, governance, contacts):
    one = client.get(EVENTS, query_string={"contact_id": contacts[0]}, headers=governance)
    assert one.status_code == 200
    assert one.json["events"] and {e["contact_id"] for e in one.json["events"]} == {contacts[0]}
    denied = client.get(EVENTS, query_string={"decision": "deny"}, headers=governance)
    assert {e["decision"] for e in denied.json["events"]} == {"deny"}
    reads = client.get(EVENTS, query_string={"action": "contact:read"}, headers=governance)
    assert reads.json["events"] and {e["action"] for e in reads.json["events"]} == {"contact:read"}
    actor = reads.json["events"][0]["actor"]
    by_actor = client.get(EVENTS, query_string={"actor": actor}, headers=governance)
    assert {e["actor"] for e in by_actor.json["events"]} == {actor}
    at = reads.json["events"][0]["at"]
    assert client.get(EVENTS, query_string={"until": at}, headers=governance).json["events"] == [
        e for e in client.get(EVENTS, headers=governance).json["events"] if e["at"] < at
    ]
    later = client.get(EVENTS, query_string={"since": "2030-01-01T00:00:00Z"}, headers=governance)
    assert later.json["events"] == []


def test_cursor_paging_walks_every_event_once_in_order(app, client, governance, contacts):
    existing = [e.seq for e in stored(app) if e.agency == "police"]
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(EVENTS, query_string=query, headers=governance).json
        assert len(page["events"]) <= 2
        seen += [e["seq"] for e in page["events"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(set(seen))  # in order, none twice
    assert set(existing) <= set(seen) and pages > 2


def test_another_agencys_trail_is_refused_and_the_refusal_audited(app, client, governance):
    response = client.get(EVENTS, query_string={"agency": "csc"}, headers=governance)
    assert response.status_code == 403
    assert response.json["error"] == "forbidden"
    last = stored(app)[-1]
    assert (last.action, last.object_id, last.decision) == ("audit:read", "csc", "deny")


def test_without_the_audit_scope_the_list_is_refused(client, make_client):
    screening = token(client, make_client, "police", Scope.SCREENING_READ)
    assert client.get(EVENTS, headers=screening).status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-11-30T10:00:00"}, "until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"contact_id": "x" * 65}, "contact_id"),
    ],
)
def test_bad_filters_get_422_naming_the_field(client, governance, query, field):
    response = client.get(EVENTS, query_string=query, headers=governance)
    assert response.status_code == 422
    assert field in response.json["fields"]


def test_clause_8_3_core_agencies_see_access_to_contacts_partners_only_their_own(
    app, client, make_client
):
    """By and to: a core agency's trail holds every event on a contact, whoever acted; a
    partner's holds only what its own people and systems did."""
    health_actor, police_actor = uuid.uuid4(), uuid.uuid4()
    contact_id = str(uuid.uuid4())
    add_events(
        app,
        [
            read_draft(health_actor, "health", contact_id),
            read_draft(police_actor, "police", contact_id),
        ],
    )
    for agency, expected in (("csc", {health_actor, police_actor}), ("health", {health_actor})):
        reader = token(client, make_client, agency, Scope.AUDIT_READ)
        response = client.get(f"{EVENTS}?action=contact:read", headers=reader)
        assert response.status_code == 200
        assert {e["actor"] for e in response.json["events"]} == {str(a) for a in expected}


def test_the_core_agencies_of_the_trail_are_the_mash_core_agencies():
    assert {a.code for a in AGENCIES if a.mash_core} == MASH_CORE
