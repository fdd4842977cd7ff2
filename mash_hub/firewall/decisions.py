"""One decision point for protected data, and the audit event that goes with each decision.

An allowed access is audited in the request's unit of work, so the access and its event
commit together. A refusal throws away whatever the request had done and is audited in a
transaction of its own: the request answers with an error and nothing else it did
survives. Any failure on the way (policy engine, audit writer, database) ends in a refusal
or an error, never in data.

What a response shows is recorded even if the response is an error or a form shown again
and the request's writes roll back: every event decided in the unit of work is remembered
until it commits, and if it rolls back instead the events are written again, once, in a
transaction of their own (read events are kept apart from the request's writes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from flask import g, has_request_context
from sqlalchemy import Text, Uuid, column, select, table
from sqlalchemy.orm import Session, SessionTransaction

from mash_hub import db, runtime
from mash_hub.audit.models import AuditEvent
from mash_hub.audit.services import (
    EventDraft,
    record,
    record_again_on_their_own,
    record_many,
    record_on_its_own,
)
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Scope
from mash_hub.db import UTCDateTime
from mash_hub.errors import Refused
from mash_hub.policy import (
    Action,
    Context,
    Decision,
    Resource,
)
from mash_hub.policy import (
    Principal as PolicyPrincipal,
)

# An agency system acts with the roles its scopes stand for (shared/docs/api.md).
SCOPE_ROLES: MappingProxyType[Scope, str] = MappingProxyType(
    {
        Scope.CONTACTS_WRITE: "screener",
        Scope.SCREENING_READ: "screener",
        Scope.SCREENING_WRITE: "screener",
        Scope.REQUESTS_READ: "agency_researcher",
        Scope.CONTRIBUTIONS_WRITE: "agency_researcher",
        Scope.AUDIT_READ: "governance_lead",
        Scope.REFERRALS_READ: "agency_researcher",
        Scope.REFERRALS_WRITE: "agency_researcher",
    }
)


class AccessDenied(Refused):
    """The firewall refused. Callers answer 404 for records (as if missing) or 403."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


@dataclass(frozen=True)
class Access:
    """Proof that an access was decided and audited: what `release()` asks for."""

    principal_id: str
    action: Action
    object_type: str
    object_id: str
    contact_id: str | None
    decision: Decision
    audit_event_id: uuid.UUID


_RECORDED_INFO_KEY = "mash_hub.firewall.recorded"


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _remember_allowed(event_ids: list[uuid.UUID]) -> None:
    """Note allow events this process has just written in the request's open transaction,
    so that checking them again in this transaction needs no read of the audit table."""
    session = db.session()
    transaction = _innermost(session)
    if transaction is None:  # pragma: no cover - an event was just flushed
        return
    held: tuple[SessionTransaction, set[uuid.UUID]] | None = session.info.get(_RECORDED_INFO_KEY)
    if held is None or held[0] is not transaction:
        held = (transaction, set())
        session.info[_RECORDED_INFO_KEY] = held
    held[1].update(event_ids)


def allow_event_in_unit_of_work(event_id: uuid.UUID) -> bool:
    """Whether this allow event was written in the request's transaction that is still
    open (not committed, rolled back, or left for a savepoint since): then it is there
    without asking the database. False means "not known": the caller reads the table."""
    session = db.session()
    held: tuple[SessionTransaction, set[uuid.UUID]] | None = session.info.get(_RECORDED_INFO_KEY)
    return (
        held is not None
        and held[0] is _innermost(session)
        and held[0].is_active
        and event_id in held[1]
    )


def policy_actor(principal: Principal) -> PolicyPrincipal:
    if principal.kind == "user":
        roles = frozenset(role.value for role in principal.roles)
    else:
        roles = frozenset(SCOPE_ROLES[scope] for scope in principal.scopes)
    return PolicyPrincipal(principal.id, principal.kind, principal.agency, roles)


def _draft(
    principal: Principal,
    action: Action,
    resource: Resource,
    decision: Decision,
    contact_id: str | None,
) -> EventDraft:
    """The audit event of one decision; every decision is drafted here once, and counted."""
    runtime.observe_decision(action.value, decision.allowed)
    roles = (
        tuple(sorted(role.value for role in principal.roles))
        if principal.kind == "user"
        else tuple(sorted(scope.value for scope in principal.scopes))
    )
    return EventDraft(
        kind="access.break_glass" if decision.break_glass else "access.decision",
        actor_type=principal.kind,
        actor_id=principal.id,
        agency=principal.agency,
        roles=roles,
        action=action.value,
        object_type=resource.entity_type,
        object_id=str(resource.id),
        contact_id=contact_id,
        decision="allow" if decision.allowed else "deny",
        isa_ids=tuple(i for i in decision.isa_ids if i),
        clauses=tuple(c for c in decision.clauses if c),
        policy_ids=decision.policy_ids,
        reason=decision.reason,
        break_glass=decision.break_glass,
    )


# The break-glass feature's grants (mash_hub/break_glass/models.py), read by name: the
# feature builds on the firewall, and the firewall needs only this one question of it.
_GRANTS = table(
    "break_glass_grants",
    column("id", Uuid()),
    column("user_id", Uuid()),
    column("contact_id", Uuid()),
    column("expires_at", UTCDateTime()),
    column("reason", Text()),
)


@dataclass(frozen=True)
class EmergencyWindow:
    """A person's own open emergency-access window on one contact: what its page's banner
    names (usability review D3)."""

    reason: str
    expires_at: datetime


def emergency_window(principal: Principal, contact_id: str) -> EmergencyWindow | None:
    """This person's own open emergency window on the contact, or None. Their own grant
    only, which they opened with its reason."""
    if principal.kind != "user":
        return None
    try:
        user_id, contact = uuid.UUID(principal.id), uuid.UUID(contact_id)
    except ValueError:
        return None
    row = (
        db.session()
        .execute(
            select(_GRANTS.c.reason, _GRANTS.c.expires_at)
            .where(
                _GRANTS.c.user_id == user_id,
                _GRANTS.c.contact_id == contact,
                _GRANTS.c.expires_at > runtime.now(),
            )
            .order_by(_GRANTS.c.expires_at.desc())
            .limit(1)
        )
        .first()
    )
    return EmergencyWindow(row.reason, row.expires_at) if row is not None else None


def _break_glass_open(principal: Principal, contact_id: str | None) -> bool:
    """Whether this person has an open emergency-access window on this contact."""
    if principal.kind != "user" or contact_id is None:
        return False
    try:
        user_id, contact = uuid.UUID(principal.id), uuid.UUID(contact_id)
    except ValueError:
        return False
    grant = db.session().scalar(
        select(_GRANTS.c.id)
        .where(
            _GRANTS.c.user_id == user_id,
            _GRANTS.c.contact_id == contact,
            _GRANTS.c.expires_at > runtime.now(),
        )
        .limit(1)
    )
    return grant is not None


def decide(
    principal: Principal,
    action: Action,
    resource: Resource,
    *,
    contact_id: str | None = None,
) -> tuple[Decision, uuid.UUID]:
    """Decide and audit. Returns the decision and the id of its audit event."""
    try:
        context = Context(now=runtime.now(), break_glass=_break_glass_open(principal, contact_id))
        decision = runtime.pdp().decide(policy_actor(principal), action, resource, context)
    except Exception as err:  # noqa: BLE001 - the decision point must fail closed
        decision = Decision(False, reason=f"error: {type(err).__name__}")
    draft = _draft(principal, action, resource, decision, contact_id)
    if decision.allowed:
        event = record(db.session(), draft)
        _keep_if_rolled_back([(draft, event.id)])
        _remember_allowed([event.id])
    else:
        db.rollback_request()
        event = record_on_its_own(draft)
    return decision, event.id


def decide_within(
    principal: Principal,
    action: Action,
    resource: Resource,
    *,
    contact_id: str | None = None,
) -> Access | None:
    """Decide and audit in the request's unit of work, refusals included, without rolling
    it back: for pages that show many records and mark the ones withheld (a restricted
    item, say). The events commit with the page. Returns the Access, or None if refused."""
    try:
        context = Context(now=runtime.now(), break_glass=_break_glass_open(principal, contact_id))
        decision = runtime.pdp().decide(policy_actor(principal), action, resource, context)
    except Exception as err:  # noqa: BLE001 - the decision point must fail closed
        decision = Decision(False, reason=f"error: {type(err).__name__}")
    draft = _draft(principal, action, resource, decision, contact_id)
    event = record(db.session(), draft)
    _keep_if_rolled_back([(draft, event.id)])
    if not decision.allowed:
        return None
    _remember_allowed([event.id])
    return Access(
        principal_id=principal.id,
        action=action,
        object_type=resource.entity_type,
        object_id=str(resource.id),
        contact_id=contact_id,
        decision=decision,
        audit_event_id=event.id,
    )


def _keep_if_rolled_back(events: list[tuple[EventDraft, uuid.UUID]]) -> None:
    """A decision recorded in the request's unit of work must survive the unit of work
    rolling back, whether it was a refusal marked on a list page or an allowed read whose
    content the page (an error, a form shown again) still shows: if the unit of work rolls
    back, the events are written again in a transaction of their own. Once only: the
    callback is dropped when the unit of work commits and when it first rolls back."""
    if events:
        db.after_rollback(lambda: record_again_on_their_own(events))


def _open_break_glass_contacts(principal: Principal) -> frozenset[str]:
    """The contacts this person has an open emergency-access window on (one query)."""
    if principal.kind != "user":
        return frozenset()
    try:
        user_id = uuid.UUID(principal.id)
    except ValueError:
        return frozenset()
    rows = db.session().scalars(
        select(_GRANTS.c.contact_id).where(
            _GRANTS.c.user_id == user_id, _GRANTS.c.expires_at > runtime.now()
        )
    )
    return frozenset(str(contact) for contact in rows)


def decide_many(
    principal: Principal,
    action: Action,
    resources: list[tuple[Resource, str | None]],
) -> list[Access | None]:
    """`decide_within` for a list of (resource, contact id), with one break-glass lookup
    and one flush of the audit events: for list pages such as an agency's inbox."""
    if not resources:
        return []
    now = runtime.now()
    try:
        glass = _open_break_glass_contacts(principal)
        actor = policy_actor(principal)
        pdp = runtime.pdp()
    except Exception as err:  # noqa: BLE001 - the decision point must fail closed
        refused = Decision(False, reason=f"error: {type(err).__name__}")
        decided = [refused] * len(resources)
    else:
        decided = []
        for resource, contact in resources:
            try:
                context = Context(now=now, break_glass=contact in glass)
                decided.append(pdp.decide(actor, action, resource, context))
            except Exception as err:  # noqa: BLE001 - the decision point must fail closed
                decided.append(Decision(False, reason=f"error: {type(err).__name__}"))
    drafts = [
        _draft(principal, action, resource, decision, contact)
        for (resource, contact), decision in zip(resources, decided, strict=True)
    ]
    event_ids = record_many(db.session(), drafts)
    _keep_if_rolled_back(list(zip(drafts, event_ids, strict=True)))
    _remember_allowed(
        [e for e, decision in zip(event_ids, decided, strict=True) if decision.allowed]
    )
    return [
        Access(
            principal_id=principal.id,
            action=action,
            object_type=resource.entity_type,
            object_id=str(resource.id),
            contact_id=contact,
            decision=decision,
            audit_event_id=event_id,
        )
        if decision.allowed
        else None
        for (resource, contact), decision, event_id in zip(
            resources, decided, event_ids, strict=True
        )
    ]


def decide_all(
    principal: Principal,
    action: Action,
    resources: list[tuple[Resource, str | None]],
) -> Decision | None:
    """`decide` for each (resource, contact id) of a list shown whole or not at all, with
    one break-glass lookup and one insert of the allow events. None when every one is
    allowed. Otherwise the first refusal, handled as `decide` handles one: the request's
    unit of work is rolled back (no allow of the list is kept) and the refusal is audited
    on its own; the resources after it are not audited."""
    if not resources:
        return None
    now = runtime.now()
    try:
        glass = _open_break_glass_contacts(principal)
        actor = policy_actor(principal)
        pdp = runtime.pdp()
    except Exception as err:  # noqa: BLE001 - the decision point must fail closed
        failed: Decision | None = Decision(False, reason=f"error: {type(err).__name__}")
    else:
        failed = None
    drafts = []
    for resource, contact in resources:
        decision = failed
        if decision is None:
            try:
                context = Context(now=now, break_glass=contact in glass)
                decision = pdp.decide(actor, action, resource, context)
            except Exception as err:  # noqa: BLE001 - the decision point must fail closed
                decision = Decision(False, reason=f"error: {type(err).__name__}")
        draft = _draft(principal, action, resource, decision, contact)
        if not decision.allowed:
            db.rollback_request()
            record_on_its_own(draft)
            return decision
        drafts.append(draft)
    event_ids = record_many(db.session(), drafts)
    _keep_if_rolled_back(list(zip(drafts, event_ids, strict=True)))
    _remember_allowed(event_ids)
    return None


def require(
    principal: Principal,
    action: Action,
    resource: Resource,
    *,
    contact_id: str | None = None,
) -> Access:
    """Decide and audit; raise AccessDenied unless allowed."""
    decision, event_id = decide(principal, action, resource, contact_id=contact_id)
    if not decision.allowed:
        raise AccessDenied(decision)
    access = Access(
        principal_id=principal.id,
        action=action,
        object_type=resource.entity_type,
        object_id=str(resource.id),
        contact_id=contact_id,
        decision=decision,
        audit_event_id=event_id,
    )
    if has_request_context():
        g.setdefault("mash_accesses", []).append(access)
    return access


def allowed_in_request(principal: Principal, action: Action, contact_id: str) -> Access | None:
    """An access this request was already allowed, with its audit event still on record
    (in the unit of work, or written again on its own after a rollback): one page view of
    a contact is one decided access, however many parts of the page show what it allowed."""
    if not has_request_context():
        return None
    accesses: list[Access] = g.get("mash_accesses", [])
    for access in reversed(accesses):
        if (
            access.principal_id == principal.id
            and access.action == action
            and access.contact_id == contact_id
            and (
                allow_event_in_unit_of_work(access.audit_event_id)
                or db.session().scalar(
                    select(AuditEvent.seq).where(AuditEvent.id == access.audit_event_id)
                )
                is not None
            )
        ):
            return access
    return None


def refuse_missing(
    principal: Principal,
    action: Action,
    stand_in: Resource,
    *,
    object_type: str,
    object_id: str,
    grant_lookup: str,
    as_refusal: bool = False,
) -> uuid.UUID:
    """A record that does not exist is refused by the same work as one that exists and is
    refused (security review V13: the two took different times, 1.5 ms apart): the
    emergency-access lookup (for `grant_lookup`, which finds nothing), a policy decision
    about a stand-in of the same type, the request rolled back and one refusal audited on
    its own. Whatever the policy says of the stand-in, the record is refused; the audit
    says why (`not_found`) and names the id that was asked for. `as_refusal`: for a trail
    its caller can read (an originating agency's lead approving a disclosure), the event
    is the stand-in's refusal, so the reader's own trail does not tell them which ids
    exist."""
    try:
        context = Context(now=runtime.now(), break_glass=_break_glass_open(principal, grant_lookup))
        decision = runtime.pdp().decide(policy_actor(principal), action, stand_in, context)
    except Exception as err:  # noqa: BLE001 - the answer is a refusal whatever happens here
        decision = Decision(False, reason=f"error: {type(err).__name__}")
    if not (as_refusal and not decision.allowed):
        return record_not_found(principal, action, object_type, object_id)
    db.rollback_request()
    return record_on_its_own(_draft(principal, action, stand_in, decision, None)).id


def record_not_found(
    principal: Principal, action: Action, object_type: str, object_id: str
) -> uuid.UUID:
    """A lookup of an id that does not exist is a refusal too, and audited as one."""
    runtime.observe_decision(action.value, False)
    db.rollback_request()
    event = record_on_its_own(
        EventDraft(
            kind="access.decision",
            actor_type=principal.kind,
            actor_id=principal.id,
            agency=principal.agency,
            roles=tuple(sorted(r.value for r in principal.roles))
            or tuple(sorted(s.value for s in principal.scopes)),
            action=action.value,
            object_type=object_type,
            object_id=object_id[:64],
            decision="deny",
            reason="not_found",
        )
    )
    return event.id
