"""The firewall's decide-and-audit: one event per decision, allow and deny, failing closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mash_hub import db, firewall, runtime
from mash_hub.audit.models import AuditEvent
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role, Scope, permissions_for_roles
from mash_hub.db import Database
from mash_hub.policy import Action, ContactResource, InfoRequestResource


def person(role: Role, agency: str) -> Principal:
    roles = frozenset({role})
    return Principal("user", f"{role.value}-{agency}", agency, roles, frozenset(),
                     permissions_for_roles(roles))  # fmt: skip


def system(agency: str, *scopes: Scope) -> Principal:
    return Principal("client", f"{agency}-system", agency, frozenset(), frozenset(scopes),
                     frozenset())  # fmt: skip


def events(app) -> list[AuditEvent]:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        session.expunge_all()
    return rows


def health_request(due_at: datetime, status: str = "open", rag: str = "amber"):
    return InfoRequestResource("req-1", "health", status, due_at, rag)  # type: ignore[arg-type]


def test_an_allowed_access_leaves_exactly_one_allow_event(app, clock):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        access = firewall.require(
            person(Role.SCREENER, "police"),
            Action.CONTACT_READ,
            ContactResource("c-1", "red", "open"),
            contact_id="c-1",
        )
        db.commit_request()
    [event] = events(app)
    assert event.id == access.audit_event_id
    assert (event.kind, event.decision, event.action) == (
        "access.decision",
        "allow",
        "contact:read",
    )
    assert (event.actor_type, event.actor_id, event.agency) == ("user", "screener-police", "police")
    assert (event.object_type, event.object_id, event.contact_id) == ("Contact", "c-1", "c-1")
    assert event.isa_ids == "ISA-MASH-CORE"
    assert event.clauses == "3.2"
    assert event.policy_ids == "mash-staff-read-open-contact"
    assert event.client_address == "10.1.2.3"
    assert event.request_id


def test_a_refused_access_leaves_a_deny_event_even_though_the_request_rolls_back(app, clock):
    with app.test_request_context("/"):
        with pytest.raises(firewall.AccessDenied) as refused:
            firewall.require(
                person(Role.AGENCY_RESEARCHER, "health"),
                Action.CONTACT_READ,
                ContactResource("c-2", "red", "open"),
                contact_id="c-2",
            )
        db.rollback_request()
    assert "forbid" in refused.value.decision.reason
    [event] = events(app)
    assert (event.decision, event.agency, event.contact_id) == ("deny", "health", "c-2")
    assert event.reason == refused.value.decision.reason


def test_an_allowed_access_whose_request_fails_still_leaves_its_event_once(app, clock):
    """What was released may still be shown by the failing page (an error, a form shown
    again): the read is recorded on its own when the unit of work rolls back, once."""
    with app.test_request_context("/"):
        access = firewall.require(
            person(Role.SCREENER, "csc"), Action.CONTACT_READ, ContactResource("c", "red", "open")
        )
        db.rollback_request()
        db.rollback_request()
    [event] = events(app)
    assert (event.decision, event.id) == ("allow", access.audit_event_id)
    assert event.request_id


def test_request_readable_until_due_then_refused(app, clock):
    due = clock.now() + timedelta(hours=2)
    researcher = person(Role.AGENCY_RESEARCHER, "health")
    with app.test_request_context("/"):
        decision, _ = firewall.decide(researcher, Action.REQUEST_READ, health_request(due))
        assert decision.allowed
        db.commit_request()
        clock.set(due)
        decision, _ = firewall.decide(researcher, Action.REQUEST_READ, health_request(due))
        assert not decision.allowed
    assert [e.decision for e in events(app)] == ["allow", "deny"]


def test_an_agreements_last_day_allows_and_the_next_day_denies(app, clock):
    with app.app_context():
        register = runtime.pdp().register
        health = register.get("ISA-MASH-HEALTH")
    until = health.in_force_until
    # Late evening of the last day, UK time (23:30 BST or GMT is before midnight in London).
    last_evening = datetime(until.year, until.month, until.day, 22, 30, tzinfo=UTC)
    next_morning = last_evening + timedelta(hours=2)
    researcher = person(Role.AGENCY_RESEARCHER, "health")
    with app.test_request_context("/"):
        clock.set(last_evening)
        far = last_evening + timedelta(days=3)
        decision, _ = firewall.decide(researcher, Action.REQUEST_ANSWER, health_request(far))
        assert decision.allowed, decision
        db.commit_request()
        clock.set(next_morning)
        decision, _ = firewall.decide(researcher, Action.REQUEST_ANSWER, health_request(far))
        assert not decision.allowed
        assert decision.reason == "agreement not in force"
    assert [e.decision for e in events(app)] == ["allow", "deny"]
    assert events(app)[1].reason == "agreement not in force"


def test_an_exception_in_the_decision_point_is_a_logged_refusal(app, clock, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("policy engine down")

    with app.test_request_context("/"):
        monkeypatch.setattr(runtime.pdp(), "decide", explode)
        with pytest.raises(firewall.AccessDenied) as refused:
            firewall.require(
                person(Role.SCREENER, "police"),
                Action.CONTACT_READ,
                ContactResource("c-3", "red", "open"),
            )
    assert refused.value.decision.reason == "error: RuntimeError"
    [event] = events(app)
    assert (event.decision, event.reason) == ("deny", "error: RuntimeError")


def test_api_clients_act_with_the_roles_their_scopes_stand_for(app, clock):
    police_system = system("police", Scope.SCREENING_READ)
    health_system = system("health", Scope.REQUESTS_READ)
    contact = ContactResource("c-4", "amber", "open")
    with app.test_request_context("/"):
        assert firewall.decide(police_system, Action.CONTACT_READ, contact)[0].allowed
        db.commit_request()
        assert not firewall.decide(health_system, Action.CONTACT_READ, contact)[0].allowed
    kinds = [(e.actor_type, e.actor_id, e.decision) for e in events(app)]
    assert kinds == [("client", "police-system", "allow"), ("client", "health-system", "deny")]


def test_a_lookup_of_a_missing_id_is_audited_as_not_found(app, clock):
    with app.test_request_context("/"):
        firewall.record_not_found(
            person(Role.SCREENER, "csc"), Action.CONTACT_READ, "Contact", "no-such-id"
        )
    [event] = events(app)
    assert (event.decision, event.reason, event.object_id) == ("deny", "not_found", "no-such-id")


def test_admins_never_read_case_content(app, clock):
    with app.test_request_context("/"):
        decision, _ = firewall.decide(
            person(Role.ADMIN, "csc"), Action.CONTACT_READ, ContactResource("c", "red", "open")
        )
    assert not decision.allowed
