"""Refusals that never reach the firewall are in the audit trail too, each in a
transaction of its own: the gate's 403 (a partner probing MASH ids), a refused sign-in
and a refused step-up security code. Ids and reasons only (security review, V8)."""

from __future__ import annotations

from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role, Scope
from mash_hub.db import Database
from tests.functional.test_break_glass import closed_contact, open_break_glass  # noqa: F401
from tests.functional.test_contacts_api import CONTACT, token
from tests.functional.test_retention import SIX_YEARS, api, hub, listed, person  # noqa: F401
from tests.helpers import csrf_token, sign_in, submit_code, submit_password


def events(app, kind: str) -> list[AuditEvent]:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        found = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.seq)
            )
        )
        session.expunge_all()
    return found


def words(event: AuditEvent) -> str:
    """Every value the event holds, to look for what must not be there."""
    return " ".join(str(getattr(event, c.key)) for c in AuditEvent.__table__.columns)


def a_contact(client, make_client) -> str:
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE)
    response = client.post("/api/v1/contacts", json=CONTACT, headers=police)
    assert response.status_code == 201
    return response.json["id"]


def test_a_partner_token_probing_a_contact_leaves_a_deny_event(app, client, make_client):
    contact_id = a_contact(client, make_client)
    health = token(client, make_client, "health", Scope.REQUESTS_READ)
    refused = client.get(f"/api/v1/contacts/{contact_id}", headers=health)
    assert refused.status_code == 403
    (event,) = events(app, "access.gate_refused")
    assert (event.decision, event.agency, event.actor_type) == ("deny", "health", "client")
    assert (event.object_type, event.object_id, event.contact_id) == (
        "Contact",
        contact_id,
        contact_id,
    )
    assert event.action == "api:contacts:read"
    assert event.request_id == refused.headers["X-Request-Id"]
    assert "Smith" not in words(event) and "Neighbour" not in words(event)


def test_a_probe_with_a_strange_path_id_is_recorded_without_it(app, client, make_client):
    health = token(client, make_client, "health", Scope.REQUESTS_READ)
    for probe in ("%00", "Sam%20Smith", "%F0%9F%98%80", "x" * 80):
        assert client.get(f"/api/v1/contacts/{probe}", headers=health).status_code == 403
    found = events(app, "access.gate_refused")
    assert [e.object_id for e in found] == ["(not an id)", "(not an id)", "(not an id)", "x" * 64]
    assert all(e.contact_id is None for e in found)


def test_a_partner_researcher_refused_at_a_page_leaves_a_deny_event(
    app, client, make_client, make_account, clock
):
    contact_id = a_contact(client, make_client)
    account = make_account(Role.AGENCY_RESEARCHER, "health")
    web = app.test_client()
    sign_in(web, account, clock)
    for path in (f"/contacts/{contact_id}", f"/contacts/{contact_id}/decision", "/queue"):
        assert web.get(path).status_code == 403
    found = events(app, "access.gate_refused")
    assert [(e.actor_id, e.agency, e.decision) for e in found] == [
        (str(account.user_id), "health", "deny")
    ] * 3
    assert [e.object_id for e in found] == [contact_id, contact_id, "screening.queue"]
    assert [e.contact_id for e in found] == [contact_id, contact_id, None]


def test_a_wrong_password_is_audited_with_the_account_id_only(app, client, make_account):
    account = make_account(Role.SCREENER, "csc")
    assert submit_password(client, account.email, "wrong password!").status_code == 200
    assert submit_password(client, "nobody@example.test", "wrong password!").status_code == 200
    known, unknown = events(app, "sign_in.refused")
    assert (known.actor_id, known.agency, known.decision) == (str(account.user_id), "csc", "deny")
    assert (unknown.actor_id, unknown.agency) == ("unknown", None)
    for event in (known, unknown):
        assert event.action == "sign_in:password"
        assert "example.test" not in words(event) and "wrong password" not in words(event)


def test_a_wrong_sign_in_code_is_audited(app, client, make_account):
    account = make_account(Role.SCREENER, "csc")
    assert submit_password(client, account.email, account.password).status_code == 302
    assert submit_code(client, "000000").status_code == 200
    (event,) = events(app, "sign_in.refused")
    assert (event.actor_id, event.action) == (str(account.user_id), "sign_in:totp")
    assert "000000" not in words(event)


def test_a_wrong_step_up_code_for_break_glass_is_audited(
    app,
    make_account,
    clock,
    closed_contact,  # noqa: F811
):
    manager = make_account(Role.MASH_MANAGER, "csc")
    web = app.test_client()
    sign_in(web, manager, clock)
    wrong = open_break_glass(web, closed_contact["reference"], "Urgent", "000000")
    assert "security code is not correct" in wrong.text
    (event,) = events(app, "step_up.refused")
    assert (event.actor_id, event.agency, event.action, event.decision) == (
        str(manager.user_id),
        "csc",
        "break_glass:open",
        "deny",
    )
    assert event.contact_id == closed_contact["id"]
    assert event.request_id == wrong.headers["X-Request-Id"]
    assert "000000" not in words(event)


def test_a_wrong_step_up_code_for_the_audit_export_is_audited(app, make_account, clock):
    lead = make_account(Role.GOVERNANCE_LEAD, "health")
    web = app.test_client()
    sign_in(web, lead, clock)
    page = web.get("/governance/audit/export")
    refused = web.post(
        "/governance/audit/export", data={"code": "123456", "csrf_token": csrf_token(page.text)}
    )
    assert refused.status_code == 200
    (event,) = events(app, "step_up.refused")
    assert (event.actor_id, event.agency, event.action) == (
        str(lead.user_id),
        "health",
        "audit:export",
    )


def test_a_wrong_step_up_code_for_a_retention_deletion_is_audited(
    app,
    hub,  # noqa: F811
    clock,
):
    cid = hub.closed_contact()
    clock.advance(SIX_YEARS)
    listed(app)
    lead = hub.lead("police")
    wrong = hub.delete(lead, cid, "000000")
    assert "The security code is not correct" in wrong.text
    (event,) = events(app, "step_up.refused")
    assert (event.actor_id, event.agency, event.action) == (
        str(lead.account.user_id),
        "police",
        "retention:delete",
    )
