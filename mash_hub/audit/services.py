"""Writing audit events.

An allowed access is recorded in the same unit of work as the access itself, so both
commit together; if that unit of work rolls back while the response still shows what was
released (an error page, a form shown again), the event is written again on its own
(`record_kept`, `record_again_on_their_own`). A refusal is recorded in a transaction of its
own, because the request that was refused answers with an error and rolls back.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from flask import has_request_context
from sqlalchemy import ColumnElement, false, func, insert, or_, select
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.audit.events import check_fields
from mash_hub.audit.models import AuditEvent
from mash_hub.db import after_rollback, database


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
    request_id, client_address = runtime.origin()
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


def record_kept(db: Session, draft: EventDraft) -> AuditEvent:
    """Record in the request's unit of work (`db` is the request's session) and, if that
    unit of work rolls back, write it again on its own, once: for an event that must be in
    the trail however the request ends (a refused security code whose page rolls back)."""
    event = record(db, draft)
    if has_request_context():
        after_rollback(lambda: record_again_on_their_own([(draft, event.id)]))
    return event


def record_again_on_their_own(events: list[tuple[EventDraft, uuid.UUID]]) -> None:
    """Write events whose unit of work rolled back again, in one transaction of their own,
    each under the id it was first given (so whoever holds that id still finds it)."""
    if not events:
        return
    with database().transaction() as own:
        own.execute(insert(AuditEvent), [{**_values(draft), "id": id_} for draft, id_ in events])


@dataclass(frozen=True)
class EventFilter:
    """A search of the trail. ``after_seq`` is the paging cursor's position."""

    agency: str
    contact_id: str | None = None
    actor: str | None = None
    action: str | None = None
    decision: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100


# The MASH core agencies hold the contacts jointly (shared/docs/domain.md).
MASH_CORE = frozenset({"csc", "police"})


def trail_of(agency: str) -> ColumnElement[bool]:
    """The events in `agency`'s trail: clause 8.3 of the core agreement lets its governance
    lead read "the audit of access by and to that agency". By: every event whose actor
    belongs to the agency. To: for the core agencies, every event on a contact."""
    by_agency = AuditEvent.agency == agency
    if agency in MASH_CORE:
        return or_(by_agency, AuditEvent.contact_id.is_not(None))
    return by_agency


def within(
    db: Session, since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """The time window as conditions, with the window's seq range added: the lowest and
    highest seq among events at or after `since` (and before `until`). Every event in the
    window lies in that range, so the result is the same; without it PostgreSQL walks the
    primary key from the wrong end of a year's trail to find a page ordered by seq (it
    assumes the window's events are spread evenly over seq, while they are bunched).
    Only when `since` bounds the window: the range is read off the `at` index
    (`seq + 0` keeps the planner from reading min(seq) off the primary key)."""
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(AuditEvent.at >= since)
    if until is not None:
        conditions.append(AuditEvent.at < until)
    if since is None:
        return conditions
    seq = AuditEvent.seq + 0
    low, high = db.execute(select(func.min(seq), func.max(seq)).where(*conditions)).one()
    if low is None:
        return [*conditions, false()]
    return [*conditions, AuditEvent.seq >= low, AuditEvent.seq <= high]


def search(db: Session, wanted: EventFilter) -> tuple[list[AuditEvent], int | None]:
    """Events in seq order (oldest first, so a SIEM can follow the trail) and the seq to
    continue after, or None on the last page. The caller has the firewall's permission."""
    query = select(AuditEvent).where(trail_of(wanted.agency), AuditEvent.seq > wanted.after_seq)
    for column, value in (
        (AuditEvent.contact_id, wanted.contact_id),
        (AuditEvent.actor_id, wanted.actor),
        (AuditEvent.action, wanted.action),
        (AuditEvent.decision, wanted.decision),
    ):
        if value is not None:
            query = query.where(column == value)
    query = query.where(*within(db, wanted.since, wanted.until))
    rows = list(db.scalars(query.order_by(AuditEvent.seq).limit(wanted.limit + 1)))
    if len(rows) > wanted.limit:
        return rows[: wanted.limit], rows[wanted.limit - 1].seq
    return rows, None
