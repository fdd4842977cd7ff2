"""Contacts over the API: intake, release through the firewall, 404 for the other side."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Scope
from mash_hub.contacts.models import Contact, ContactSubject
from mash_hub.db import Database

CANARY = "canary-7f3e-concern-text"

CONTACT = {
    "received_at": "2026-11-30T09:15:00Z",
    "source": {"agency": "police", "referrer_name": "PC Ada Jones", "referrer_role": "PPD officer"},
    "concern": f"Neighbour reports shouting and a child crying late at night. {CANARY}",
    "consent": {"status": "not_sought", "reason": "child at risk of significant harm"},
    "subjects": [
        {
            "role": "child",
            "given_name": "Sam",
            "family_name": "Smith",
            "date_of_birth": "2015-04-02",
            "address": "1 High St, Brent",
            "nhs_number": "943 476 5919",
        },
        {"role": "parent", "given_name": "Jo", "family_name": "Smith"},
    ],
}


def token(client, make_client, agency, *scopes):
    client_id, secret = make_client(agency, frozenset(scopes))
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    return {"Authorization": f"Bearer {response.json['access_token']}"}


@pytest.fixture
def police(client, make_client):
    return token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)


def table_count(app, model) -> int:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def audit(app) -> list[tuple[str, str, str]]:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.decision, AuditEvent.reason).order_by(
                AuditEvent.seq
            )
        ).all()
    return [tuple(row) for row in rows]


def test_police_system_records_a_contact_and_reads_it_back(app, client, police):
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police)
    assert created.status_code == 201, created.json
    assert created.json["reference"] == "MASH-2026-000001"
    assert created.json["status"] == "awaiting_screening"
    second = client.post("/api/v1/contacts", json=CONTACT, headers=police)
    assert second.json["reference"] == "MASH-2026-000002"

    shown = client.get(f"/api/v1/contacts/{created.json['id']}", headers=police)
    assert shown.status_code == 200
    body = shown.json
    assert body["concern"] == CONTACT["concern"]
    assert {key: body["source"][key] for key in CONTACT["source"]} == CONTACT["source"]
    assert body["source"]["type"] == "agency"  # the contract's first shape: an agency
    assert body["consent"] == CONTACT["consent"]
    assert body["received_at"] == "2026-11-30T09:15:00Z"
    assert [s["given_name"] for s in body["subjects"]] == ["Sam", "Jo"]
    assert body["subjects"][0]["nhs_number"] == "9434765919"
    assert body["subjects"][0]["date_of_birth"] == "2015-04-02"
    actions = [(a, d) for a, d, _ in audit(app)]
    assert actions == [
        ("contact:create", "allow"),
        ("contact:create", "allow"),
        ("contact:read", "allow"),
    ]


def test_other_side_of_the_firewall_gets_the_same_404_as_a_missing_contact(
    app, client, police, make_client
):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    # A health system wrongly granted screening:read passes the gate; the firewall still
    # keeps the contact on the MASH side.
    health = token(client, make_client, "health", Scope.SCREENING_READ)
    refused = client.get(f"/api/v1/contacts/{contact_id}", headers=health)
    missing = client.get("/api/v1/contacts/00000000-0000-4000-8000-000000000000", headers=health)
    garbage = client.get("/api/v1/contacts/not-an-id", headers=health)
    assert refused.status_code == missing.status_code == garbage.status_code == 404
    assert refused.data == missing.data == garbage.data
    assert CANARY not in refused.text
    events = audit(app)[1:]
    assert [(a, d) for a, d, _ in events] == [("contact:read", "deny")] * 3
    if app.extensions["mash.db"].engine.dialect.name == "postgresql":
        # Row-level security hides the row from a health principal before Cedar is asked.
        assert events[0][2] == "not_found"
    else:
        assert events[0][2].startswith("forbidden by")
    assert events[1][2] == events[2][2] == "not_found"


def test_partner_systems_cannot_reach_contacts_at_all(client, make_client, police):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    health = token(client, make_client, "health", Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE)
    assert client.get(f"/api/v1/contacts/{contact_id}", headers=health).status_code == 403
    assert client.post("/api/v1/contacts", json=CONTACT, headers=health).status_code == 403


def _with(path: str, value):
    body = copy.deepcopy(CONTACT)
    node = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        ("concern", KeyError, "concern", "is required"),
        ("concern", "   ", "concern", "is required"),
        ("received_at", "2026-12-25T09:00:00Z", "received_at", "must not be in the future"),
        ("received_at", "2026-11-30T09:00:00", "received_at", "time zone offset"),
        ("received_at", "1900-01-01T10:00:00Z", "received_at", "on or after 1 January 2025"),
        ("subjects.0.date_of_birth", "1850-01-01", "subjects[0].date_of_birth", "1906 or later"),
        ("received_at", "yesterday", "received_at", "RFC 3339"),
        ("subjects.0.nhs_number", "9434765918", "subjects[0].nhs_number", "valid 10-digit"),
        ("subjects.0.date_of_birth", "2030-01-01", "subjects[0].date_of_birth", "future"),
        ("subjects.0.date_of_birth", "2015-02-30", "subjects[0].date_of_birth", "real date"),
        ("subjects.0.given_name", "x" * 100_000, "subjects[0].given_name", "100 characters"),
        ("subjects.0.given_name", "Sam\x00", "subjects[0].given_name", "control characters"),
        ("subjects.0.role", "neighbour", "subjects[0].role", "must be one of"),
        ("subjects", [], "subjects", "at least one subject"),
        ("subjects.0.role", "sibling", "subjects", "at least one child"),
        ("consent.reason", None, "consent.reason", "is required"),
        ("consent.status", "maybe", "consent.status", "must be one of"),
        ("source.agency", "mi5", "source.agency", "must be one of"),
    ],
)
def test_bad_contacts_get_field_errors_and_save_nothing(
    app, client, police, path, value, field, message
):
    response = client.post("/api/v1/contacts", json=_with(path, value), headers=police)
    assert response.status_code == 422, response.json
    assert response.json["error"] == "validation_failed"
    assert message in response.json["fields"][field]
    assert table_count(app, Contact) == 0
    assert table_count(app, ContactSubject) == 0


def test_consent_given_needs_no_reason(client, police):
    body = _with("consent", {"status": "given"})
    assert client.post("/api/v1/contacts", json=body, headers=police).status_code == 201


def test_non_json_and_broken_json_bodies(client, police):
    assert client.post("/api/v1/contacts", data="x", headers=police).status_code == 415
    broken = client.post(
        "/api/v1/contacts",
        data="{not json",
        headers={**police, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json["error"] == "bad_request"
    listed = client.post("/api/v1/contacts", json=[1, 2], headers=police)
    assert listed.status_code == 422


def test_a_database_dump_holds_no_case_content(app, client, police, settings):
    client.post("/api/v1/contacts", json=CONTACT, headers=police)
    url = settings.database.url
    if url.startswith("sqlite"):
        raw = Path(url.removeprefix("sqlite:///")).read_bytes()
        wal = Path(url.removeprefix("sqlite:///") + "-wal")
        if wal.exists():
            raw += wal.read_bytes()
    else:
        database: Database = app.extensions["mash.db"]
        with database.transaction() as session:
            rows = session.execute(select(Contact.__table__)).all()
            rows += session.execute(select(ContactSubject.__table__)).all()
        raw = repr(rows).encode()
    for secret in (CANARY, "PC Ada Jones", "High St", "9434765919", "child at risk"):
        assert secret.encode() not in raw, secret


def test_a_failing_decision_point_gives_404_and_a_deny_event_never_data(
    app, client, police, monkeypatch
):
    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]

    def broken(*_args, **_kwargs):
        raise RuntimeError("policy engine unavailable")

    monkeypatch.setattr(app.extensions["mash.pdp"], "decide", broken)
    response = client.get(f"/api/v1/contacts/{contact_id}", headers=police)
    assert response.status_code == 404
    assert CANARY not in response.text
    assert audit(app)[-1] == ("contact:read", "deny", "error: RuntimeError")


def test_release_without_an_audited_access_is_refused(app, client, police):
    """Security promise P1's sentinel: a forged Access cannot open ciphertext."""
    import uuid

    from mash_hub.firewall import Access
    from mash_hub.firewall.release import ReleaseRefused, release
    from mash_hub.policy import Action, Decision

    contact_id = client.post("/api/v1/contacts", json=CONTACT, headers=police).json["id"]
    database: Database = app.extensions["mash.db"]
    with app.app_context(), database.transaction() as session:
        envelope = session.get(Contact, uuid.UUID(contact_id)).concern_sealed
    with app.test_request_context("/"):
        forged = Access(
            principal_id="intruder",
            action=Action.CONTACT_READ,
            object_type="Contact",
            object_id=contact_id,
            contact_id=contact_id,
            decision=Decision(True, ("made-up",), ("ISA-MASH-CORE",), ("3.2",), "forged"),
            audit_event_id=uuid.uuid4(),
        )
        with pytest.raises(ReleaseRefused):
            release(
                forged,
                contact_id=contact_id,
                agency_code="police",
                table="contacts",
                row_id=contact_id,
                column="concern",
                envelope=envelope,
            )
