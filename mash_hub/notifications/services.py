"""Sending and listing in-hub notifications. Services never commit.

Each notification is also written to the outbox (mash_hub.outbox) in the same unit of
work: an email to every active user of the agency with the role, and for a request kind
to the agency's shared MASH mailbox too. A rolled-back action sends nothing; a committed
one is delivered by `mash-hub notifications deliver` or the scheduler.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.authz.permissions import Role
from mash_hub.notifications.models import Notification
from mash_hub.outbox import services as outbox
from mash_hub.outbox.messages import KINDS

MESSAGES = {kind: what.summary for kind, what in KINDS.items()}


def notify(
    db: Session,
    *,
    agency: str,
    role: Role,
    kind: str,
    object_type: str,
    object_id: str,
    contact_reference: str | None = None,
    about_agency: str | None = None,
    due_at: datetime | None = None,
    to_mailbox: bool | None = None,
) -> Notification:
    """Tell `role` in `agency`, in the hub and by email. `contact_reference`, `about_agency`
    and `due_at` are what the email may name (never case content); `to_mailbox` (by
    default: for request kinds) sends it to the agency's shared mailbox as well."""
    if kind not in MESSAGES:
        raise ValueError(f"undeclared notification kind {kind!r}")
    notification = Notification(
        recipient_agency=agency,
        recipient_role=role.value,
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        created_at=runtime.now(),
    )
    db.add(notification)
    db.flush()
    outbox.enqueue(
        db,
        agency=agency,
        role=role.value,
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        contact_reference=contact_reference,
        about_agency=about_agency,
        due_at=due_at,
        to_mailbox=to_mailbox,
    )
    return notification


def for_role(db: Session, agency: str, role: Role, limit: int = 50) -> list[Notification]:
    return list(
        db.scalars(
            select(Notification)
            .where(Notification.recipient_agency == agency, Notification.recipient_role == role)
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
    )
