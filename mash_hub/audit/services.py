"""Writing audit events.

An allowed access is recorded in the same unit of work as the access itself: both commit
or neither does. A refusal is recorded in a transaction of its own, because the request
that was refused answers with an error and rolls back.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import has_request_context, request
from sqlalchemy import insert
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.audit.events import check_fields
from mash_hub.audit.models import AuditEvent
from mash_hub.db import database
from mash_hub.web.security import request_id as current_request_id


@dataclass(frozen=True)
class EventDraft:
    kind: str
    actor_type: str
    actor_id: str
    action: str
    decision: str
    reason: str
    agency: str | None = None
    roles: tuple[str, ...] = ()
    object_type: str | None = None
    object_id: str | None = None
    contact_id: str | None = None
    isa_ids: tuple[str, ...] = ()
    clauses: tuple[str, ...] = ()
    policy_ids: tuple[str, ...] = ()
    break_glass: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def _event(draft: EventDraft) -> AuditEvent:
    return AuditEvent(**_values(draft))


def _values(draft: EventDraft) -> dict[str, Any]:
    check_fields(draft.kind, asdict(draft))
    request_id = client_address = None
    if has_request_context():
        request_id = current_request_id()
        client_address = request.remote_addr
    return {
        "at": runtime.now(),
        "kind": draft.kind,
        "actor_type": draft.actor_type,
        "actor_id": draft.actor_id,
        "agency": draft.agency,
        "roles": " ".join(sorted(draft.roles)),
        "action": draft.action,
        "object_type": draft.object_type,
        "object_id": draft.object_id,
        "contact_id": draft.contact_id,
        "decision": draft.decision,
        "isa_ids": " ".join(draft.isa_ids),
        "clauses": " ".join(draft.clauses),
        "policy_ids": " ".join(draft.policy_ids),
        "reason": draft.reason[:255],
        "break_glass": draft.break_glass,
        "request_id": request_id,
        "client_address": client_address,
    }


def record(db: Session, draft: EventDraft) -> AuditEvent:
    """Record in the caller's unit of work (an allowed access and its event commit together)."""
    event = _event(draft)
    db.add(event)
    db.flush()
    return event


def record_many(db: Session, drafts: list[EventDraft]) -> list[uuid.UUID]:
    """Record several events in the caller's unit of work in one statement (list pages);
    returns their ids, in order."""
    rows = [{**_values(draft), "id": uuid.uuid4()} for draft in drafts]
    if rows:
        db.execute(insert(AuditEvent), rows)
    return [row["id"] for row in rows]


def record_on_its_own(draft: EventDraft) -> AuditEvent:
    """Record and commit at once, whatever the caller's unit of work does next (refusals)."""
    with database().transaction() as own:
        event = _event(draft)
        own.add(event)
        own.flush()
        own.expunge(event)
    return event
