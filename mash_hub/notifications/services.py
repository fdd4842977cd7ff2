"""Sending and listing in-hub notifications. Services never commit.

Each notification is also written to the outbox (mash_hub.outbox) in the same unit of
work: an email to every active user of the agency with the role, and for a request kind
to the agency's shared MASH mailbox too. A rolled-back action sends nothing; a committed
one is delivered by `mash-hub notifications deliver` or the scheduler.

A person sees their messages in the hub and chooses, per kind, whether they also get an
email (`email_choices`, `save_email_choices`); the outbox leaves out those who chose not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.notifications.models import Notification, NotificationPreference
from mash_hub.outbox import services as outbox
from mash_hub.outbox.messages import KINDS, LINKS, REQUEST_KINDS
from mash_hub.outbox.models import OutboxMessage

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


# -- a person's messages and their choice of email ------------------------------------

# The kinds each role is told of, as the hub's notify() calls address them (a request near
# or past its due time goes to the MASH managers and the asked agency's governance leads;
# a breach's messages to the governance leads and the core agencies' MASH managers).
RECEIVED_BY: dict[Role, frozenset[str]] = {
    Role.SCREENER: frozenset({"decision.returned", "decision.approved", "referrer.email_failed"}),
    Role.MASH_MANAGER: frozenset(
        {
            "request.due_soon",
            "request.overdue",
            "disclosure.decided",
            "referral.decided",
            "referral.expired",
            "breach.recorded",
            "breach.partners_due_soon",
            "breach.partners_overdue",
            "breach.ico_due_soon",
            "breach.ico_overdue",
        }
    ),
    Role.AGENCY_RESEARCHER: frozenset({"request.sent", "referral.sent"}),
    Role.GOVERNANCE_LEAD: frozenset(
        {
            "break_glass.opened",
            "request.due_soon",
            "request.overdue",
            "retention.review_due",
            "disclosure.approval_needed",
            "step_up.locked",
            "breach.recorded",
            "breach.partners_due_soon",
            "breach.partners_overdue",
            "breach.ico_due_soon",
            "breach.ico_overdue",
            "sign_in.held_back",
        }
    ),
    Role.ADMIN: frozenset(),
}

PAGE_SIZE = 50
# How an email to the person stands, in the page's words.
EMAIL_STATES = {
    "queued": "Waiting to be sent",
    "sending": "Waiting to be sent",
    "sent": "Sent",
    "dead": "Could not be sent",
}
NOT_EMAILED = "Not emailed to you"
# What a message's link opens, by the kind of thing it is about (LINKS says where).
OPENS = {
    "InfoRequest": "Open the information request",
    "Contact": "Open the contact",
    "BreakGlassGrant": "Review the emergency access",
    "Disclosure": "Open the disclosure",
    "RetentionReview": "Open the retention list",
    "Breach": "Open the breach",
    "OnwardReferral": "Open the referral",
}
# Kinds only a receiving service's team gets (`[referrals] receivers`): another partner's
# researchers are never sent them, so they are not offered a choice about them.
RECEIVING_SERVICE_KINDS = frozenset({"referral.sent"})


class UnknownKind(ValueError):
    """A choice was posted for a kind of message the person does not receive."""


def kinds_for(roles: frozenset[Role], agency: str | None = None) -> list[str]:
    """The kinds of message people with `roles` (in `agency`, where given) receive, in the
    order KINDS lists them."""
    received = frozenset().union(*(RECEIVED_BY[role] for role in roles))
    if agency is not None and agency not in runtime.settings().referrals.receivers.values():
        received -= RECEIVING_SERVICE_KINDS
    return [kind for kind in KINDS if kind in received]


@dataclass(frozen=True)
class EmailChoice:
    kind: str
    subject: str
    summary: str
    email: bool
    # A request kind: the shared mailbox of the agency asked gets it whatever is chosen.
    also_to_mailbox: bool


def email_choices(db: Session, principal: Principal) -> list[EmailChoice]:
    """Each kind the person receives, with whether they get it by email."""
    chosen: dict[str, bool] = dict(
        db.execute(
            select(NotificationPreference.kind, NotificationPreference.email).where(
                NotificationPreference.user_id == _user_id(principal)
            )
        ).all()
    )
    return [
        EmailChoice(
            kind,
            KINDS[kind].subject,
            KINDS[kind].summary,
            chosen.get(kind, True),
            kind in REQUEST_KINDS,
        )
        for kind in kinds_for(principal.roles, principal.agency)
    ]


def save_email_choices(db: Session, principal: Principal, wanted: Iterable[str]) -> list[str]:
    """Record the person's choice: email for the kinds in `wanted`, none for the other
    kinds they receive. Refuses (UnknownKind, nothing written) a kind they do not receive.
    Audited; returns the kinds whose choice changed."""
    offered = kinds_for(principal.roles, principal.agency)
    wanted = set(wanted)
    unknown = sorted(wanted - set(offered))
    if unknown:
        raise UnknownKind(", ".join(unknown))
    user_id = _user_id(principal)
    existing = {
        preference.kind: preference
        for preference in db.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
    }
    now = runtime.now()
    changed = []
    for kind in offered:
        email = kind in wanted
        preference = existing.get(kind)
        if preference is None:
            try:
                with db.begin_nested():  # the same choices saved twice at once: one insert
                    db.add(
                        NotificationPreference(
                            user_id=user_id, kind=kind, email=email, updated_at=now
                        )
                    )
                    db.flush()
            except IntegrityError:
                preference = db.get(NotificationPreference, (user_id, kind), populate_existing=True)
            else:
                if not email:
                    changed.append(kind)
                continue
        if preference is not None and preference.email != email:
            preference.email = email
            preference.updated_at = now
            changed.append(kind)
    db.flush()
    turned_on = [kind for kind in changed if kind in wanted]
    turned_off = [kind for kind in changed if kind not in wanted]
    reason = "; ".join(
        part
        for part in (
            f"email on: {', '.join(turned_on)}" if turned_on else "",
            f"email off: {', '.join(turned_off)}" if turned_off else "",
        )
        if part
    )
    record(
        db,
        EventDraft(
            kind="notifications.email_chosen",
            actor_type=principal.kind,
            actor_id=principal.id,
            agency=principal.agency,
            roles=tuple(sorted(role.value for role in principal.roles)),
            action="notifications:choose_email",
            object_type="User",
            object_id=principal.id,
            decision="allow",
            reason=reason or "no change",
        ),
    )
    return changed


@dataclass(frozen=True)
class Message:
    at: datetime
    kind: str
    summary: str
    role: str
    # Where the message points in the hub, if anywhere (ids only), and the link's words.
    href: str | None
    link_text: str
    # From the email written for it (the outbox holds it), never from the record itself.
    contact_reference: str | None
    email: str


@dataclass(frozen=True)
class MessagesPage:
    messages: list[Message]
    page: int
    pages: int
    total: int


def messages_for(db: Session, principal: Principal, address: str, page: int) -> MessagesPage:
    """The person's in-hub messages (those to their agency and any of their roles), newest
    first, `PAGE_SIZE` a page, each with how the email to `address` (theirs) stands.
    A page past the last gives the last."""
    roles = sorted(role.value for role in principal.roles)
    mine = and_(
        Notification.recipient_agency == principal.agency,
        Notification.recipient_role.in_(roles),
    )
    total = db.scalar(select(func.count()).select_from(Notification).where(mine)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = list(
        db.scalars(
            select(Notification)
            .where(mine)
            .order_by(Notification.created_at.desc(), Notification.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    emails = _emails_for(db, mine, shown, address)
    return MessagesPage(
        [
            Message(
                at=n.created_at,
                kind=n.kind,
                summary=MESSAGES.get(n.kind, n.kind),
                role=n.recipient_role,
                href=_href(n.object_type, n.object_id),
                link_text=OPENS.get(n.object_type, "Open it"),
                contact_reference=emails[n.id][0],
                email=emails[n.id][1],
            )
            for n in shown
        ],
        page,
        pages,
        total,
    )


def _href(object_type: str, object_id: str) -> str | None:
    path = LINKS.get(object_type)
    return path.format(id=object_id) if path is not None else None


def _emails_for(
    db: Session, mine: ColumnElement[bool], shown: list[Notification], address: str
) -> dict[uuid.UUID, tuple[str | None, str]]:
    """For each notification shown: the contact reference its emails named, and how the
    email to `address` stands. notify() writes a notification and its emails in one unit
    of work, so an email belongs to the latest notification of the same kind, role and
    object written at or before it (found among all the person's, not only this page's)."""
    found: dict[uuid.UUID, tuple[str | None, str]] = {n.id: (None, NOT_EMAILED) for n in shown}
    if not shown:
        return found
    kinds = sorted({n.kind for n in shown})
    object_ids = sorted({n.object_id for n in shown})
    by_key: dict[tuple[str, str, str, str], list[tuple[datetime, uuid.UUID]]] = {}
    for ident, role, kind, object_type, object_id, at in db.execute(
        select(
            Notification.id,
            Notification.recipient_role,
            Notification.kind,
            Notification.object_type,
            Notification.object_id,
            Notification.created_at,
        )
        .where(mine, Notification.kind.in_(kinds), Notification.object_id.in_(object_ids))
        .order_by(Notification.created_at)
    ):
        by_key.setdefault((role, kind, object_type, object_id), []).append((at, ident))
    emails = db.execute(
        select(
            OutboxMessage.recipient_role,
            OutboxMessage.kind,
            OutboxMessage.object_type,
            OutboxMessage.object_id,
            OutboxMessage.created_at,
            OutboxMessage.recipient,
            OutboxMessage.state,
            OutboxMessage.contact_reference,
        ).where(
            OutboxMessage.recipient_kind == "user",
            OutboxMessage.recipient_agency == shown[0].recipient_agency,
            OutboxMessage.recipient_role.in_(sorted({n.recipient_role for n in shown})),
            OutboxMessage.kind.in_(kinds),
            OutboxMessage.object_id.in_(object_ids),
        )
    )
    for to_role, about, on_type, on_id, at, recipient, state, reference in emails:
        earlier = [
            ident
            for written, ident in by_key.get((to_role or "", about, on_type, on_id), [])
            if written <= at
        ]
        if not earlier or earlier[-1] not in found:
            continue
        owner = earlier[-1]
        known_reference, standing = found[owner]
        if recipient.lower() == address.lower():
            standing = EMAIL_STATES.get(state, standing)
        found[owner] = (known_reference or reference, standing)
    return found


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.kind != "user":
        raise UnknownKind("only a person chooses their emails")
    return uuid.UUID(principal.id)
