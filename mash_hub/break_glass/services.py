"""Break-glass: a MASH manager opens emergency access to one contact, outside the normal
rules, with a reason and a fresh security code. The window is short, every use is
flagged in the audit, the owning agency's governance lead is told, and a review follows.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.break_glass.models import REVIEW_OUTCOMES, BreakGlassGrant
from mash_hub.contacts.models import Contact
from mash_hub.errors import NotFound
from mash_hub.firewall import records
from mash_hub.firewall.decisions import decide_many, decide_within
from mash_hub.identity import services as identity
from mash_hub.identity.models import User
from mash_hub.notifications.services import notify
from mash_hub.policy.types import Action

REASON_MAX = 2000


class BreakGlassRefused(ValueError):
    """The request for emergency access cannot be granted; the message says why."""


def _audit(
    db: Session, principal: Principal, grant: BreakGlassGrant, kind: str, action: str, reason: str
) -> None:
    record(
        db,
        EventDraft(
            kind=kind,
            actor_type="user",
            actor_id=principal.id,
            agency=principal.agency,
            roles=tuple(sorted(r.value for r in principal.roles)),
            action=action,
            object_type="BreakGlassGrant",
            object_id=str(grant.id),
            contact_id=str(grant.contact_id),
            decision="allow",
            reason=reason,
            break_glass=kind == "break_glass.opened",
        ),
    )


def open_break_glass(
    db: Session, principal: Principal, user: User, contact_id: str, reason: str, code: str
) -> BreakGlassGrant:
    try:
        contact = records.open(
            db, principal, Contact, contact_id, Action.BREAK_GLASS_OPEN, refusal_shown=True
        ).record
    except records.Denied as refused:
        raise BreakGlassRefused("only a MASH manager can open emergency access") from refused
    reason = reason.strip()
    if not reason:
        raise BreakGlassRefused("give the reason for emergency access")
    if len(reason) > REASON_MAX:
        raise BreakGlassRefused(f"the reason must be {REASON_MAX} characters or fewer")
    refusal = identity.step_up_refusal(
        db, user, code, "break_glass:open", contact_id=str(contact.id)
    )
    if refusal is not None:
        raise BreakGlassRefused(refusal[:1].lower() + refusal[1:])
    now = runtime.now()
    grant = BreakGlassGrant(
        user_id=user.id,
        agency=principal.agency,
        contact_id=contact.id,
        owning_agency=contact.source_agency.code,
        reason=reason,
        opened_at=now,
        expires_at=now + runtime.settings().firewall.break_glass_window.timedelta,
    )
    db.add(grant)
    db.flush()
    _audit(
        db, principal, grant, "break_glass.opened", "break_glass:open", "emergency access opened"
    )
    for agency in sorted({grant.owning_agency, principal.agency}):
        notify(
            db,
            agency=agency,
            role=Role.GOVERNANCE_LEAD,
            kind="break_glass.opened",
            object_type="BreakGlassGrant",
            object_id=str(grant.id),
        )
    return grant


def review_queue(db: Session, principal: Principal) -> list[BreakGlassGrant]:
    """Grants awaiting review by this governance lead, oldest first: those of the lead's
    agency that the firewall lets them review (`break_glass:review`), so never their own."""
    agency = principal.agency
    grants = list(
        db.scalars(
            records.scope(principal, BreakGlassGrant, Action.BREAK_GLASS_REVIEW)
            .where(
                BreakGlassGrant.reviewed_at.is_(None),
                (BreakGlassGrant.owning_agency == agency) | (BreakGlassGrant.agency == agency),
            )
            .order_by(BreakGlassGrant.opened_at)
        )
    )
    decided = decide_many(
        principal,
        Action.BREAK_GLASS_REVIEW,
        [(records.grant_resource(grant), None) for grant in grants],
    )
    return [grant for grant, access in zip(grants, decided, strict=True) if access is not None]


def grant_for_review(db: Session, principal: Principal, grant_id: str) -> BreakGlassGrant | None:
    """The grant, opened for review by this lead (`break_glass:review`); None for a missing
    grant or one the lead may not review. A lead's own use of emergency access is shown,
    so that they are told plainly why they cannot review it."""
    try:
        return records.open(
            db, principal, BreakGlassGrant, grant_id, Action.BREAK_GLASS_REVIEW, refusal_shown=True
        ).record
    except NotFound:
        return None
    except records.Denied as refused:
        grant: BreakGlassGrant = refused.record
        return grant if str(grant.user_id) == principal.id else None


def record_review(
    db: Session, principal: Principal, grant: BreakGlassGrant, outcome: str, notes: str
) -> None:
    if outcome not in REVIEW_OUTCOMES:
        raise BreakGlassRefused("choose whether the use was justified")
    if grant.reviewed_at is not None:
        raise BreakGlassRefused("this use has already been reviewed")
    if not decide_within(principal, Action.BREAK_GLASS_REVIEW, records.grant_resource(grant)):
        if str(grant.user_id) == principal.id:
            raise BreakGlassRefused("you cannot review your own use of emergency access")
        raise BreakGlassRefused("only a governance lead reviews emergency access")
    grant.reviewed_at = runtime.now()
    grant.reviewed_by = uuid.UUID(principal.id)
    grant.review_outcome = outcome
    grant.review_notes = notes.strip() or None
    _audit(db, principal, grant, "break_glass.reviewed", "break_glass:review", outcome)
