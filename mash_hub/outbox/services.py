"""Writing messages into the outbox (in the caller's unit of work), and the
administrator's view of it. Services never commit.

The recipients are read from the directory tables by name (users, their roles and
agencies): the outbox sits below the identity package, which notifies through it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, column, exists, false, func, select, table, update
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.outbox.messages import KINDS, OUTSIDE_KINDS, REQUEST_KINDS
from mash_hub.outbox.models import STATES, OutboxMessage
from mash_hub.outbox.webhooks import KIND_SCOPES as WEBHOOK_KINDS

_users = table("users", column("id"), column("email"), column("agency_id"), column("disabled_at"))
_user_roles = table("user_roles", column("user_id"), column("role"))
_agencies = table("agencies", column("id"), column("code"))
_preferences = table("notification_preferences", column("user_id"), column("kind"), column("email"))


class OutboxError(Exception):
    """The message asked for does not exist or cannot be retried."""


def people(db: Session, agency: str, role: str, kind: str) -> list[str]:
    """The addresses of the active users holding `role` in `agency` who have not turned
    off email for `kind` (no choice recorded: they get it)."""
    turned_off = exists().where(
        _preferences.c.user_id == _users.c.id,
        _preferences.c.kind == kind,
        _preferences.c.email == false(),
    )
    return list(
        db.scalars(
            select(_users.c.email)
            .join(_agencies, _agencies.c.id == _users.c.agency_id)
            .join(_user_roles, _user_roles.c.user_id == _users.c.id)
            .where(
                _agencies.c.code == agency,
                _user_roles.c.role == role,
                _users.c.disabled_at.is_(None),
                ~turned_off,
            )
            .order_by(_users.c.email)
        )
    )


def mailbox(agency: str) -> str | None:
    return runtime.settings().notifications.mailboxes.get(agency) or None


def _queued(**fields: object) -> OutboxMessage:
    """A new message, due now, under an idempotency key of its own."""
    now = runtime.now()
    message_id = uuid.uuid4()
    return OutboxMessage(
        id=message_id,
        idempotency_key=f"{message_id.hex}@mash-hub",
        state="queued",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        **fields,
    )


def enqueue(
    db: Session,
    *,
    agency: str,
    role: str,
    kind: str,
    object_type: str,
    object_id: str,
    contact_reference: str | None = None,
    about_agency: str | None = None,
    due_at: datetime | None = None,
    to_mailbox: bool | None = None,
) -> list[OutboxMessage]:
    """Queue one email per recipient: each active user of `agency` with `role`, and, for a
    request kind (or when `to_mailbox`), the agency's shared mailbox. Flushed in the
    caller's unit of work: rolled back with it, committed with it."""
    if kind not in KINDS:
        raise ValueError(f"undeclared message kind {kind!r}")
    if to_mailbox is None:
        to_mailbox = kind in REQUEST_KINDS
    recipients: list[tuple[str, str]] = [
        (email, "user") for email in people(db, agency, role, kind)
    ]
    shared = mailbox(agency) if to_mailbox else None
    if shared and all(shared.lower() != email.lower() for email, _ in recipients):
        recipients.append((shared, "mailbox"))
    queued = [
        _queued(
            channel="email",
            recipient=address,
            recipient_kind=recipient_kind,
            recipient_agency=agency,
            recipient_role=role if recipient_kind == "user" else None,
            kind=kind,
            object_type=object_type,
            object_id=object_id,
            contact_reference=contact_reference,
            about_agency=about_agency,
            due_at=due_at,
        )
        for address, recipient_kind in recipients
    ]
    systems = _for_systems(
        db,
        agency=agency,
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        contact_reference=contact_reference,
        about_agency=about_agency,
        due_at=due_at,
    )
    if systems is not None:
        queued.append(systems)
    db.add_all(queued)
    db.flush()
    return queued


def enqueue_outside(
    db: Session,
    *,
    to: str,
    agency: str,
    kind: str,
    object_type: str,
    object_id: str,
    contact_reference: str | None,
) -> OutboxMessage:
    """Queue one email to someone outside the hub (a referrer), on behalf of `agency`'s
    screeners, in the caller's unit of work. Once sent, the row forgets the address."""
    if kind not in OUTSIDE_KINDS:
        raise ValueError(f"{kind!r} is not a message to someone outside the hub")
    message = _queued(
        channel="email",
        recipient=to,
        recipient_kind="referrer",
        recipient_agency=agency,
        recipient_role=None,
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        contact_reference=contact_reference,
    )
    db.add(message)
    db.flush()
    return message


def outside_messages(db: Session, kind: str, object_ids: list[str]) -> list[OutboxMessage]:
    """The messages of `kind` to people outside the hub about these objects (for the job
    that records what became of them)."""
    if not object_ids:
        return []
    return list(
        db.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.kind == kind,
                OutboxMessage.recipient_kind == "referrer",
                OutboxMessage.object_id.in_(object_ids),
            )
            .order_by(OutboxMessage.created_at)
        )
    )


_SYSTEMS_QUEUED = "mash.outbox.systems_queued"


def _for_systems(
    db: Session,
    *,
    agency: str,
    kind: str,
    object_type: str,
    object_id: str,
    contact_reference: str | None,
    about_agency: str | None,
    due_at: datetime | None,
) -> OutboxMessage | None:
    """The event once for the agency's systems (the delivery process finds the
    subscriptions that want it): a kind a system may subscribe to, and only once per
    unit of work however many roles of the agency are told of it."""
    if kind not in WEBHOOK_KINDS:
        return None
    transaction = db.get_transaction()
    held: tuple[object, set[tuple[str, str, str, str]]] | None = db.info.get(_SYSTEMS_QUEUED)
    if held is None or held[0] is not transaction:
        held = (transaction, set())
        db.info[_SYSTEMS_QUEUED] = held
    event = (agency, kind, object_type, object_id)
    if event in held[1]:
        return None
    held[1].add(event)
    return _queued(
        channel="systems",
        recipient=agency,
        recipient_kind="systems",
        recipient_agency=agency,
        recipient_role=None,
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        contact_reference=contact_reference,
        about_agency=about_agency,
        due_at=due_at,
    )


@dataclass(frozen=True)
class Listed:
    id: str
    kind: str
    state: str
    attempts: int
    recipient_kind: str
    recipient_agency: str
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None


def listing(db: Session, state: str | None = None, limit: int = 100) -> list[Listed]:
    """The newest messages, in one state or all (for `mash-hub notifications list`)."""
    if state is not None and state not in STATES:
        raise OutboxError(f"unknown state {state!r}: expected one of {', '.join(STATES)}")
    query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(limit)
    if state is not None:
        query = query.where(OutboxMessage.state == state)
    return [
        Listed(
            str(m.id),
            m.kind,
            m.state,
            m.attempts,
            m.recipient_kind,
            m.recipient_agency,
            m.created_at,
            m.next_attempt_at,
            m.last_error,
        )
        for m in db.scalars(query)
    ]


def counts(db: Session) -> dict[str, int]:
    found = dict.fromkeys(STATES, 0)
    for state, number in db.execute(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    ):
        found[state] = number
    return found


def retry(db: Session, message_id: str) -> OutboxMessage:
    """Put a dead message back in the queue, due now, with its attempts counted afresh;
    it keeps its idempotency key."""
    try:
        ident = uuid.UUID(message_id)
    except ValueError as err:
        raise OutboxError(f"no message {message_id!r}") from err
    message = db.get(OutboxMessage, ident)
    if message is None:
        raise OutboxError(f"no message {message_id!r}")
    if message.state != "dead":
        raise OutboxError(f"message {message_id} is {message.state}, not dead: nothing to retry")
    changed = db.execute(
        update(OutboxMessage)
        .where(and_(OutboxMessage.id == ident, OutboxMessage.state == "dead"))
        .values(state="queued", attempts=0, next_attempt_at=runtime.now(), lease_until=None)
        .execution_options(synchronize_session=False)
    )
    if getattr(changed, "rowcount", 0) != 1:
        raise OutboxError(f"message {message_id} changed meanwhile: try again")
    db.refresh(message)
    return message
