"""Sending and listing in-hub notifications. Services never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.authz.permissions import Role
from mash_hub.notifications.models import Notification

MESSAGES = {
    "break_glass.opened": "Emergency access was opened and is waiting for your review",
    "request.due_soon": "An information request is close to its due time and not yet answered",
    "request.overdue": "An information request ran out without an answer",
    "disclosure.approval_needed": "A disclosure out of the MASH includes your agency's restricted "
    "information and waits for your decision",
    "disclosure.decided": "An agency recorded its decision on a disclosure you started",
    "step_up.locked": "Someone in your agency entered too many wrong security codes for a "
    "sensitive action; their fresh codes are refused for a while",
    "breach.recorded": "A suspected personal data breach concerning your agency was recorded",
    "breach.partners_due_soon": "The time to tell the other parties about a personal data "
    "breach is nearly up",
    "breach.partners_overdue": "The time to tell the other parties about a personal data "
    "breach has run out",
    "breach.ico_due_soon": "The 72 hours to report a personal data breach to the Information "
    "Commissioner are nearly up and no decision is recorded",
    "breach.ico_overdue": "The 72 hours to report a personal data breach to the Information "
    "Commissioner have run out",
    "sign_in.held_back": "Someone failed to sign in to the account of a person in your "
    "agency many times; sign-ins from places the person does not use are held back for a while",
}


def notify(
    db: Session, *, agency: str, role: Role, kind: str, object_type: str, object_id: str
) -> Notification:
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
