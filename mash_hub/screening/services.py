"""The screening team's work on contacts: the queue, claims, proposed outcomes, a MASH
manager's sign-off, and telling the referrer.

Which firewall action guards what (policies/mash_core.cedar, unchanged):
- the queue shows a row only after a `contact:read` decision on that contact, audited
  one event per row with its contact id, so "who saw this contact, when" includes lists;
- claiming, proposing an outcome and recording the referrer's acknowledgement are
  screening work on an open contact: `contact:rate` (clause 3.3, screeners and managers);
- approving or returning a proposal is `contact:decide` (clause 3.4, MASH managers only).
Each act also writes a domain audit event naming it (decision.proposed, ...).

Nothing here commits: the request owns the unit of work.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import g
from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from mash_hub import firewall, runtime
from mash_hub.agencies import agency_name
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.contacts import services as contacts
from mash_hub.contacts.hooks import hooks
from mash_hub.contacts.models import (
    ACKNOWLEDGEMENT_METHODS,
    DECISION_OUTCOMES,
    Contact,
    ContactClaim,
    ContactDecision,
    DecisionReview,
    ReferrerAcknowledgement,
)
from mash_hub.contacts.referrers import describe
from mash_hub.errors import Conflict, Refused
from mash_hub.firewall import duties, records
from mash_hub.identity import services as identity
from mash_hub.identity.models import Agency, ApiClient, User
from mash_hub.notifications.models import Notification
from mash_hub.notifications.services import notify
from mash_hub.outbox import services as outbox
from mash_hub.policy import Action

SCREENING_STATUSES = ("awaiting_screening", "in_progress")
# Who the job that records the referrer's email acts as.
SYSTEM_ACTOR = "scheduler"
# The email telling a referrer their contact was considered (mash_hub.outbox.messages).
REFERRER_EMAIL = "referrer.outcome"
QUEUE_LIMIT = 200
REFERRAL_REASON_MAX = 2000

OUTCOME_LABELS = {
    "strategy_discussion": "Strategy discussion (Children Act 1989 s47)",
    "s17_assessment": "Child and family assessment (s17)",
    "early_help": "Early help or step-down",
    "signpost": "Signpost to universal services",
    "no_further_action": "No further action",
    "pass_to_allocated_worker": "Pass to the allocated worker",
}
METHOD_LABELS = {
    "phone": "Telephone",
    "email": "Email",
    "secure_email": "Secure email",
    "letter": "Letter",
    "in_person": "In person",
}


class StateConflict(Conflict):
    """The contact's state forbids this now (API 409); the message says why."""


class ScreeningRefused(ValueError):
    """The request itself is not acceptable (a field error); the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class QueueRefused(Refused):
    """This person may not see the screening queue (outside the MASH side)."""


# -- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    id: str
    reference: str
    received_at: datetime
    source_agency: str
    source_label: str  # who made it: the agency, or the kind of referrer
    status: str
    rag: str | None
    decision_due_at: datetime | None
    time_left: timedelta | None
    assignee_id: str | None
    assignee_name: str | None
    awaiting_approval: bool
    # The manager sent the latest proposal back and no one has proposed again (#13 D6).
    returned: bool = False
    returned_reason: str | None = None

    @property
    def overdue(self) -> bool:
        return self.time_left is not None and self.time_left < timedelta(0)


@dataclass(frozen=True)
class QueueFilters:
    rag: str | None = None  # red | amber | green | unrated
    agency: str | None = None
    assignee: str | None = None  # a user id, "me" or "unassigned"


# List rows show the contact's own columns only: its subjects and ratings are not loaded.
_ROW_ONLY = (lazyload(Contact.subjects), lazyload(Contact.ratings))


def _latest_claims():  # type: ignore[no-untyped-def]
    ranked = select(
        ContactClaim.contact_id,
        ContactClaim.assignee_id,
        func.row_number()
        .over(
            partition_by=ContactClaim.contact_id,
            order_by=(ContactClaim.claimed_at.desc(), ContactClaim.id.desc()),
        )
        .label("rank"),
    ).subquery()
    return select(ranked.c.contact_id, ranked.c.assignee_id).where(ranked.c.rank == 1).subquery()


def _pending_clause():  # type: ignore[no-untyped-def]
    return exists(
        select(ContactDecision.id).where(
            ContactDecision.contact_id == Contact.id,
            ~exists(
                select(DecisionReview.id).where(DecisionReview.decision_id == ContactDecision.id)
            ),
        )
    )


def _returned_clause(proposer: str | None = None):  # type: ignore[no-untyped-def]
    """The contact's latest proposal was returned by a manager and nothing is proposed
    since: no proposal waits for review and none was approved. With `proposer`, only
    proposals that screener made."""
    returned = select(DecisionReview.id).where(
        DecisionReview.contact_id == Contact.id, DecisionReview.verdict == "returned"
    )
    if proposer is not None:
        returned = returned.join(
            ContactDecision, ContactDecision.id == DecisionReview.decision_id
        ).where(ContactDecision.proposed_by == proposer)
    approved = select(DecisionReview.id).where(
        DecisionReview.contact_id == Contact.id, DecisionReview.verdict == "approved"
    )
    return and_(exists(returned), ~exists(approved), ~_pending_clause())


def _on_mash_side(principal: Principal) -> bool:
    """Decide (and audit) `screening:read`: the queue is the MASH side's alone. Once per
    request: the queue page shows three lists, and one look at the queue is one decision."""
    decided: dict[str, bool] = g.setdefault("screening_read_decided", {})
    if principal.id not in decided:
        resource = duties.screening_queue()
        access = firewall.decide_within(principal, Action.SCREENING_READ, resource)
        decided[principal.id] = access is not None
    return decided[principal.id]


def _show_rows(principal: Principal, rows: list[Contact]) -> None:
    """Decide (and audit) `contact:read` on every row about to be shown, once per contact
    per request. One refusal refuses the whole list: a partial list would leave earlier
    rows unaudited."""
    shown: set[str] = g.setdefault("screening_rows_decided", set())
    todo = {str(contact.id): contact for contact in rows if str(contact.id) not in shown}
    refused = firewall.decide_all(
        principal,
        Action.CONTACT_READ,
        [(records.contact_resource(contact), cid) for cid, contact in todo.items()],
    )
    if refused is not None:
        raise QueueRefused(refused.reason)
    shown.update(todo)


@dataclass(frozen=True)
class QueueCounts:
    """Counts only, for the home page: no contact is shown, so nothing is released."""

    waiting: int
    overdue: int
    awaiting_approval: int
    returned_to_you: int = 0


def queue_counts(db: Session, now: datetime, proposer: str | None = None) -> QueueCounts:
    """`proposer` (a screener's id) also counts the decisions returned to them."""
    on_queue = Contact.status.in_(SCREENING_STATUSES)
    waiting = db.scalar(select(func.count()).select_from(Contact).where(on_queue)) or 0
    overdue = (
        db.scalar(
            select(func.count())
            .select_from(Contact)
            .where(on_queue, Contact.decision_due_at.is_not(None), Contact.decision_due_at < now)
        )
        or 0
    )
    pending = (
        db.scalar(select(func.count()).select_from(Contact).where(on_queue, _pending_clause())) or 0
    )
    returned = 0
    if proposer is not None:
        returned = (
            db.scalar(
                select(func.count())
                .select_from(Contact)
                .where(on_queue, _returned_clause(proposer))
            )
            or 0
        )
    return QueueCounts(waiting, overdue, pending, returned)


def queue(
    db: Session, principal: Principal, filters: QueueFilters, limit: int = QUEUE_LIMIT
) -> list[QueueRow]:
    """Contacts awaiting screening or in progress, most urgent first: by decision
    deadline, or by receipt while unrated. Partners never see it (QueueRefused)."""
    if not _on_mash_side(principal):
        raise QueueRefused("outside the MASH side")
    claims = _latest_claims()
    query = (
        records.scope(
            principal,
            Contact,
            Action.CONTACT_READ,
            claims.c.assignee_id,
            User.display_name,
            _pending_clause().label("pending"),
            _returned_clause().label("returned"),
        )
        .outerjoin(claims, claims.c.contact_id == Contact.id)
        .outerjoin(User, User.id == claims.c.assignee_id)
        .where(Contact.status.in_(SCREENING_STATUSES))
        .options(*_ROW_ONLY)
    )
    if filters.rag == "unrated":
        query = query.where(Contact.rag.is_(None))
    elif filters.rag:
        query = query.where(Contact.rag == filters.rag)
    if filters.agency:
        query = query.join(Agency, Agency.id == Contact.source_agency_id).where(
            Agency.code == filters.agency, Contact.referrer_type == "agency"
        )
    if filters.assignee == "unassigned":
        query = query.where(claims.c.assignee_id.is_(None))
    elif filters.assignee:
        wanted = principal.id if filters.assignee == "me" else filters.assignee
        try:
            query = query.where(claims.c.assignee_id == uuid.UUID(wanted))
        except ValueError:
            return []
    query = query.order_by(
        func.coalesce(Contact.decision_due_at, Contact.received_at), Contact.received_at
    ).limit(limit)
    found = db.execute(query).all()
    _show_rows(principal, [row[0] for row in found])
    now = runtime.now()
    reasons = {
        str(contact.id): _returned_reason(db, principal, str(contact.id))
        for contact, _assignee_id, _name, _pending, returned in found
        if returned
    }
    return [
        QueueRow(
            id=str(contact.id),
            reference=contact.reference,
            received_at=contact.received_at,
            source_agency=contact.source_agency.code,
            source_label=describe(contact.referrer_type, contact.source_agency.code),
            status=contact.status,
            rag=contact.rag,
            decision_due_at=contact.decision_due_at,
            time_left=(contact.decision_due_at - now) if contact.decision_due_at else None,
            assignee_id=str(assignee_id) if assignee_id else None,
            assignee_name=name,
            awaiting_approval=bool(pending),
            returned=bool(returned),
            returned_reason=reasons.get(str(contact.id)),
        )
        for contact, assignee_id, name, pending, returned in found
    ]


def _returned_reason(db: Session, principal: Principal, contact_id: str) -> str | None:
    """The manager's reason for returning the contact's latest proposal, released (and
    audited) for the queue's "Returned" row."""
    opened = _open(db, principal, contact_id, Action.CONTACT_READ)
    review = db.scalar(
        opened.rows(DecisionReview)
        .where(DecisionReview.verdict == "returned")
        .order_by(DecisionReview.reviewed_at.desc(), DecisionReview.id.desc())
        .limit(1)
    )
    if review is None or review.reason_sealed is None:
        return None
    return opened.text("reason", row=review)


@dataclass(frozen=True)
class PendingDecision:
    decision_id: str
    contact_id: str
    reference: str
    rag: str | None
    decision_due_at: datetime | None
    outcome: str
    proposed_at: datetime
    proposed_by: str


@dataclass(frozen=True)
class AwaitingAcknowledgement:
    contact_id: str
    reference: str
    outcome: str
    approved_at: datetime
    due_at: datetime

    def overdue(self, now: datetime) -> bool:
        return now > self.due_at


def awaiting_approval(db: Session, principal: Principal) -> list[PendingDecision]:
    """Proposals no manager has reviewed yet, oldest first (each row audited)."""
    if not _on_mash_side(principal):
        raise QueueRefused("outside the MASH side")
    found = db.execute(
        records.scope(principal, Contact, Action.CONTACT_READ, ContactDecision)
        .join(ContactDecision, ContactDecision.contact_id == Contact.id)
        .where(
            Contact.status.in_(SCREENING_STATUSES),
            ~exists(
                select(DecisionReview.id).where(DecisionReview.decision_id == ContactDecision.id)
            ),
        )
        .order_by(ContactDecision.proposed_at)
        .limit(QUEUE_LIMIT)
        .options(*_ROW_ONLY)
    ).all()
    _show_rows(principal, [contact for contact, _decision in found])
    names = display_names(db, [decision.proposed_by for _, decision in found])
    return [
        PendingDecision(
            decision_id=str(decision.id),
            contact_id=str(contact.id),
            reference=contact.reference,
            rag=contact.rag,
            decision_due_at=contact.decision_due_at,
            outcome=decision.outcome,
            proposed_at=decision.proposed_at,
            proposed_by=names.get(decision.proposed_by, decision.proposed_by),
        )
        for contact, decision in found
    ]


def awaiting_acknowledgement(db: Session, principal: Principal) -> list[AwaitingAcknowledgement]:
    """Approved decisions whose referrer has not yet been told, by due time."""
    if not _on_mash_side(principal):
        raise QueueRefused("outside the MASH side")
    found = db.execute(
        records.scope(principal, Contact, Action.CONTACT_READ, DecisionReview, ContactDecision)
        .join(DecisionReview, DecisionReview.contact_id == Contact.id)
        .join(ContactDecision, ContactDecision.id == DecisionReview.decision_id)
        .where(Contact.status == "decided", DecisionReview.verdict == "approved")
        .order_by(DecisionReview.acknowledgement_due_at)
        .limit(QUEUE_LIMIT)
        .options(*_ROW_ONLY)
    ).all()
    _show_rows(principal, [contact for contact, _r, _d in found])
    return [
        AwaitingAcknowledgement(
            contact_id=str(contact.id),
            reference=contact.reference,
            outcome=decision.outcome,
            approved_at=review.reviewed_at,
            due_at=review.acknowledgement_due_at or review.reviewed_at,
        )
        for contact, review, decision in found
    ]


def display_names(db: Session, actor_ids: list[str]) -> dict[str, str]:
    """People's names (and agency systems' client ids) for ids recorded as actors."""
    users = []
    for actor in set(actor_ids):
        try:
            users.append(uuid.UUID(actor))
        except ValueError:
            continue
    names: dict[str, str] = {}
    if users:
        for ident, name in db.execute(select(User.id, User.display_name).where(User.id.in_(users))):
            names[str(ident)] = name
    others = [a for a in set(actor_ids) if a not in names]
    if others:
        for (client_id,) in db.execute(
            select(ApiClient.client_id).where(ApiClient.client_id.in_(others))
        ):
            names[client_id] = f"Agency system {client_id}"
    return names


def screening_users(db: Session, principal: Principal) -> list[User]:
    """Who a contact can be assigned to: active screening staff of the MASH side."""
    if not _on_mash_side(principal):
        return []
    users = db.scalars(
        select(User)
        .join(Agency, Agency.id == User.agency_id)
        .where(Agency.mash_core, User.disabled_at.is_(None))
        .order_by(User.display_name)
    ).all()
    return [u for u in users if {r.value for r in u.roles} & {"screener", "mash_manager"}]


# -- one contact's decisions -----------------------------------------------------------


@dataclass(frozen=True)
class ReviewView:
    verdict: str
    reason: str | None
    reviewed_at: datetime
    reviewed_by: str
    acknowledgement_due_at: datetime | None


@dataclass(frozen=True)
class DecisionView:
    id: str
    outcome: str
    rationale: str
    proposed_at: datetime
    proposed_by: str
    proposed_by_id: str
    review: ReviewView | None


@dataclass(frozen=True)
class AcknowledgementView:
    method: str
    told_at: datetime
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class DecisionsView:
    contact_id: str
    reference: str
    status: str
    rag: str | None
    decision_due_at: datetime | None
    decisions: tuple[DecisionView, ...]
    acknowledgement: AcknowledgementView | None
    assignee: str | None
    # The firewall's answer for this read: proof for the page's other parts (requests).
    access: firewall.Access | None = None
    # The referrer left an email address: the hub emails them once the outcome is approved.
    referrer_by_email: bool = False

    @property
    def pending(self) -> DecisionView | None:
        last = self.decisions[-1] if self.decisions else None
        return last if last is not None and last.review is None else None

    @property
    def approved(self) -> DecisionView | None:
        for decision in self.decisions:
            if decision.review is not None and decision.review.verdict == "approved":
                return decision
        return None


def _open(
    db: Session, principal: Principal, contact_id: str, action: Action
) -> records.Opened[Contact]:
    return records.open(
        db, principal, Contact, contact_id, action, missing=contacts.ContactNotFound
    )


def _assignee(db: Session, contact: Contact) -> str | None:
    name: str | None = db.scalar(
        select(User.display_name)
        .join(ContactClaim, ContactClaim.assignee_id == User.id)
        .where(ContactClaim.contact_id == contact.id)
        .order_by(ContactClaim.claimed_at.desc(), ContactClaim.id.desc())
        .limit(1)
    )
    return name


def decisions_for(db: Session, principal: Principal, contact_id: str) -> DecisionsView:
    """The contact's proposals, reviews and acknowledgement, released to this principal
    (one audited `contact:read`), or ContactNotFound."""
    opened = _open(db, principal, contact_id, Action.CONTACT_READ)
    contact = opened.record
    decisions = db.scalars(
        opened.rows(ContactDecision).order_by(ContactDecision.proposed_at, ContactDecision.id)
    ).all()
    reviews = {r.decision_id: r for r in db.scalars(opened.rows(DecisionReview))}
    acknowledgement = db.scalar(opened.rows(ReferrerAcknowledgement))
    actors = [d.proposed_by for d in decisions] + [r.reviewed_by for r in reviews.values()]
    if acknowledgement is not None:
        actors.append(acknowledgement.recorded_by)
    names = display_names(db, actors)
    views = []
    for decision in decisions:
        review = reviews.get(decision.id)
        views.append(
            DecisionView(
                id=str(decision.id),
                outcome=decision.outcome,
                rationale=opened.text("rationale", row=decision),
                proposed_at=decision.proposed_at,
                proposed_by=names.get(decision.proposed_by, decision.proposed_by),
                proposed_by_id=decision.proposed_by,
                review=ReviewView(
                    verdict=review.verdict,
                    reason=(
                        opened.text("reason", row=review)
                        if review.reason_sealed is not None
                        else None
                    ),
                    reviewed_at=review.reviewed_at,
                    reviewed_by=names.get(review.reviewed_by, review.reviewed_by),
                    acknowledgement_due_at=review.acknowledgement_due_at,
                )
                if review is not None
                else None,
            )
        )
    return DecisionsView(
        contact_id=opened.contact_id,
        reference=contact.reference,
        status=contact.status,
        rag=contact.rag,
        decision_due_at=contact.decision_due_at,
        decisions=tuple(views),
        acknowledgement=AcknowledgementView(
            method=acknowledgement.method,
            told_at=acknowledgement.told_at,
            recorded_at=acknowledgement.recorded_at,
            recorded_by=names.get(acknowledgement.recorded_by, acknowledgement.recorded_by)
            if acknowledgement.recorded_by != SYSTEM_ACTOR
            else "the hub, when the email was sent",
        )
        if acknowledgement is not None
        else None,
        assignee=_assignee(db, contact),
        access=opened.access,
        referrer_by_email=_referrer_email(opened) is not None,
    )


def requests_shown(db: Session, principal: Principal, view: DecisionsView) -> list[object]:
    """The contact's information requests and answers for the decision page (each request
    decided and audited by sharing), or none where sharing is not installed."""
    composer = hooks().requests
    if composer is None or view.access is None:
        return []
    return list(composer(db, principal, view.access))


# -- changing ----------------------------------------------------------------------------


def _event(
    db: Session,
    principal: Principal,
    kind: str,
    action: Action,
    object_id: str,
    contact: Contact,
    reason: str,
) -> None:
    roles = (
        tuple(sorted(r.value for r in principal.roles))
        if principal.kind == "user"
        else tuple(sorted(s.value for s in principal.scopes))
    )
    record(
        db,
        EventDraft(
            kind=kind,
            actor_type=principal.kind,
            actor_id=principal.id,
            agency=principal.agency,
            roles=roles,
            action=action.value,
            object_type="Contact",
            object_id=object_id,
            contact_id=str(contact.id),
            decision="allow",
            reason=reason,
        ),
    )


def _pending(db: Session, opened: records.Opened[Contact]) -> ContactDecision | None:
    decision: ContactDecision | None = db.scalar(
        opened.rows(ContactDecision).where(
            ~exists(
                select(DecisionReview.id).where(DecisionReview.decision_id == ContactDecision.id)
            ),
        )
    )
    return decision


def claim(db: Session, principal: Principal, contact_id: str) -> ContactClaim:
    """The signed-in screener takes the contact on; the claim and its audit event stay."""
    if principal.kind != "user":
        raise StateConflict("only a person can take a contact on")
    contact = _open(db, principal, contact_id, Action.CONTACT_RATE).record
    if contact.status not in SCREENING_STATUSES:
        raise StateConflict("the contact has left screening")
    previous = db.scalar(
        select(ContactClaim.assignee_id)
        .where(ContactClaim.contact_id == contact.id)
        .order_by(ContactClaim.claimed_at.desc(), ContactClaim.id.desc())
        .limit(1)
    )
    me = uuid.UUID(principal.id)
    if previous == me:
        raise StateConflict("you already have this contact")
    taken = ContactClaim(contact_id=contact.id, assignee_id=me, claimed_at=runtime.now())
    db.add(taken)
    db.flush()
    _event(
        db,
        principal,
        "contact.claimed",
        Action.CONTACT_RATE,
        principal.id,
        contact,
        f"taken over from {previous}" if previous else "claimed",
    )
    return taken


def propose(
    db: Session, principal: Principal, contact_id: str, outcome: str, rationale: str
) -> ContactDecision:
    """Propose an outcome with its rationale, for a MASH manager's sign-off."""
    if outcome not in DECISION_OUTCOMES:
        raise ScreeningRefused("outcome", "choose one of the outcomes")
    rationale = rationale.strip()
    if not rationale:
        raise ScreeningRefused("rationale", "give the rationale for this outcome")
    opened = _open(db, principal, contact_id, Action.CONTACT_RATE)
    contact = opened.record
    if contact.status not in SCREENING_STATUSES:
        raise StateConflict("the contact already has an approved decision")
    if contact.rag is None:
        raise StateConflict("rate the contact before proposing an outcome")
    if _pending(db, opened) is not None:
        raise StateConflict("an outcome is already waiting for a manager's approval")
    earlier = db.scalar(
        select(func.count())
        .select_from(ContactDecision)
        .where(ContactDecision.contact_id == contact.id)
    )
    decision_id = uuid.uuid4()
    decision = ContactDecision(
        id=decision_id,
        contact_id=contact.id,
        sequence=(earlier or 0) + 1,
        outcome=outcome,
        rationale_sealed=opened.seal(
            "rationale", rationale, table="contact_decisions", row_id=decision_id
        ),
        proposed_at=runtime.now(),
        proposed_by=principal.id,
    )
    db.add(decision)
    db.flush()
    _event(
        db, principal, "decision.proposed", Action.CONTACT_RATE, str(decision_id), contact, outcome
    )
    return decision


def acknowledgement_due(approved_at: datetime) -> datetime:
    """One working day after the decision: a full working day's hours on the calendar."""
    calendar = runtime.calendar()
    return calendar.add_working(approved_at, calendar.day_ends - calendar.day_starts)


def refers_onward(outcome: str) -> str | None:
    """The receiving service an approved outcome is referred on to (`[referrals]
    receivers`), or None: the sign-off asks the manager for the reason for the referral."""
    return runtime.settings().referrals.receiver_for(outcome)


def review(
    db: Session,
    principal: Principal,
    contact_id: str,
    decision_id: str,
    verdict: str,
    reason: str | None,
    referral_reason: str | None = None,
) -> DecisionReview:
    """A MASH manager approves the pending proposal, or returns it with a reason. An
    approved outcome with a receiving service is referred on to it in the same unit of work
    (`hooks().approved`), with `referral_reason`, written for that service.
    Raises firewall.AccessDenied for anyone the policy does not let decide."""
    if verdict not in ("approved", "returned"):
        raise ScreeningRefused("verdict", "choose whether to approve or return the decision")
    reason = (reason or "").strip() or None
    if verdict == "returned" and reason is None:
        raise ScreeningRefused("reason", "give the reason for returning the decision")
    opened = records.open(
        db,
        principal,
        Contact,
        contact_id,
        Action.CONTACT_DECIDE,
        missing=contacts.ContactNotFound,
        refusal_shown=True,
    )
    contact = opened.record
    pending = _pending(db, opened)
    if (
        pending is None
        or str(pending.id) != decision_id
        or contact.status not in SCREENING_STATUSES
    ):
        raise StateConflict("that decision is no longer waiting for approval")
    if pending.proposed_by == principal.id:
        raise ScreeningRefused("verdict", "another manager must sign off a decision you proposed")
    receiver = refers_onward(pending.outcome) if verdict == "approved" else None
    referral_reason = (referral_reason or "").strip() or None
    # Checked before anything is written: a page that shows this error commits its unit of
    # work, which must then hold no half-made approval.
    if receiver is not None and referral_reason is None:
        raise ScreeningRefused(
            "referral_reason",
            f"write the reason for the referral to {agency_name(receiver)}",
        )
    if referral_reason is not None and len(referral_reason) > REFERRAL_REASON_MAX:
        raise ScreeningRefused(
            "referral_reason",
            f"the reason for the referral must be {REFERRAL_REASON_MAX} characters or fewer",
        )
    now = runtime.now()
    review_id = uuid.uuid4()
    signed = DecisionReview(
        id=review_id,
        decision_id=pending.id,
        contact_id=contact.id,
        verdict=verdict,
        reason_sealed=opened.seal("reason", reason, table="decision_reviews", row_id=review_id)
        if reason
        else None,
        reviewed_at=now,
        reviewed_by=principal.id,
        acknowledgement_due_at=acknowledgement_due(now) if verdict == "approved" else None,
    )
    db.add(signed)
    try:
        db.flush()
    except IntegrityError as clash:
        raise StateConflict(
            "another manager signed this decision off at the same moment"
        ) from clash
    if verdict == "approved":
        # Screening is over: no more ratings or proposals. It closes for good once the
        # referrer has been told.
        contact.status = "decided"
    db.flush()
    onward = hooks().approved
    if verdict == "approved" and onward is not None:
        try:
            onward(db, principal, contact, pending, referral_reason)
        except Conflict as clash:  # no agreement in force with the service: 409, rolled back
            raise StateConflict(str(clash)) from clash
    screeners = _agency_of(db, pending.proposed_by) or "csc"
    email = _referrer_email(opened) if verdict == "approved" else None
    if email is not None:
        # Told by email, in this unit of work: the job `record_referrer_emails` records
        # the acknowledgement (and closes the contact) once it is sent.
        outbox.enqueue_outside(
            db,
            to=email,
            agency=screeners,
            kind=REFERRER_EMAIL,
            object_type="Contact",
            object_id=str(contact.id),
            contact_reference=contact.reference,
        )
        _event(
            db,
            principal,
            "referrer.email_queued",
            Action.CONTACT_DECIDE,
            str(contact.id),
            contact,
            "the referrer is emailed that their contact was considered",
        )
    # The proposer's agency's screeners hear of it: to pass an approved outcome on to the
    # referrer, or to look again at a returned one.
    notify(
        db,
        agency=screeners,
        role=Role.SCREENER,
        kind=f"decision.{verdict}",
        object_type="Contact",
        object_id=str(contact.id),
        contact_reference=contact.reference,
        due_at=signed.acknowledgement_due_at,
    )
    _event(
        db, principal, "decision.reviewed", Action.CONTACT_DECIDE, str(pending.id), contact, verdict
    )
    return signed


def _referrer_email(opened: records.Opened[Contact]) -> str | None:
    """The address the referrer left, if any (read from the contact opened by the caller)."""
    referrer = json.loads(opened.text("referrer"))
    email = referrer.get("email") if isinstance(referrer, dict) else None
    return email if isinstance(email, str) and "@" in email else None


def record_referrer_emails(db: Session) -> int:
    """Job: for each approved contact whose referrer was emailed, record what became of
    the email. Sent: the acknowledgement is recorded ("email", at the time it was sent, by
    the hub) and the contact closes, as when a screener records it. Could not be sent: the
    screeners who proposed the outcome are told once, and the contact waits for them to
    tell the referrer another way and record it. Returns how many contacts changed."""
    decided = {
        str(c.id): c
        for c in db.scalars(
            records.bookkeeping(Contact).where(Contact.status == "decided").limit(500)
        )
    }
    changed = 0
    for message in outbox.outside_messages(db, REFERRER_EMAIL, list(decided)):
        contact = decided.get(message.object_id)
        if contact is None or contact.status != "decided":
            continue
        if message.state == "sent" and message.sent_at is not None:
            _told_by_email(db, contact, message.sent_at)
            changed += 1
        elif message.state == "dead" and not _failure_told(db, contact):
            notify(
                db,
                agency=message.recipient_agency,
                role=Role.SCREENER,
                kind="referrer.email_failed",
                object_type="Contact",
                object_id=str(contact.id),
                contact_reference=contact.reference,
                due_at=_acknowledgement_due(db, contact),
            )
            changed += 1
    return changed


def _acknowledgement_due(db: Session, contact: Contact) -> datetime | None:
    return db.scalar(
        select(DecisionReview.acknowledgement_due_at).where(
            DecisionReview.contact_id == contact.id, DecisionReview.verdict == "approved"
        )
    )


def _failure_told(db: Session, contact: Contact) -> bool:
    return (
        db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.kind == "referrer.email_failed",
                Notification.object_id == str(contact.id),
            )
        )
        or 0
    ) > 0


def _told_by_email(db: Session, contact: Contact, sent_at: datetime) -> None:
    approved = db.execute(
        select(DecisionReview.decision_id).where(
            DecisionReview.contact_id == contact.id, DecisionReview.verdict == "approved"
        )
    ).one()
    now = runtime.now()
    told = ReferrerAcknowledgement(
        contact_id=contact.id,
        decision_id=approved.decision_id,
        method="email",
        told_at=sent_at,
        recorded_at=now,
        recorded_by=SYSTEM_ACTOR,
    )
    db.add(told)
    contact.status = "closed"
    contact.closed_at = now
    db.flush()
    hooks().closed(db, contact, None)  # its open requests end with it
    record(
        db,
        EventDraft(
            kind="referrer.acknowledged",
            actor_type="system",
            actor_id=SYSTEM_ACTOR,
            agency=contact.source_agency.code,
            action=Action.CONTACT_RATE.value,
            object_type="Contact",
            object_id=str(told.id),
            contact_id=str(contact.id),
            decision="allow",
            reason="email sent",
        ),
    )


def _agency_of(db: Session, actor_id: str) -> str | None:
    """The agency of the person (or agency system) recorded as an actor."""
    try:
        ident = uuid.UUID(actor_id)
    except ValueError:
        return db.scalar(
            select(Agency.code)
            .join(ApiClient, ApiClient.agency_id == Agency.id)
            .where(ApiClient.client_id == actor_id)
        )
    return db.scalar(
        select(Agency.code).join(User, User.agency_id == Agency.id).where(User.id == ident)
    )


def acknowledge(
    db: Session, principal: Principal, contact_id: str, method: str, told_at: datetime
) -> ReferrerAcknowledgement:
    """Record that the referrer was told the approved outcome; the contact closes."""
    if method not in ACKNOWLEDGEMENT_METHODS:
        raise ScreeningRefused("method", "choose how the referrer was told")
    now = runtime.now()
    if told_at > now:
        raise ScreeningRefused(
            "told_at", "the time the referrer was told must not be in the future"
        )
    contact = _open(db, principal, contact_id, Action.CONTACT_RATE).record
    if contact.status != "decided":
        raise StateConflict("the contact has no approved decision waiting to be passed on")
    approved = db.execute(
        select(DecisionReview.decision_id, DecisionReview.reviewed_at).where(
            and_(DecisionReview.contact_id == contact.id, DecisionReview.verdict == "approved")
        )
    ).one()
    if told_at < approved.reviewed_at:
        raise ScreeningRefused("told_at", "the referrer cannot have been told before the decision")
    told = ReferrerAcknowledgement(
        contact_id=contact.id,
        decision_id=approved.decision_id,
        method=method,
        told_at=told_at,
        recorded_at=now,
        recorded_by=principal.id,
    )
    db.add(told)
    contact.status = "closed"
    contact.closed_at = now  # retention periods run from here
    db.flush()
    hooks().closed(db, contact, principal)  # its open requests end with it
    _event(
        db, principal, "referrer.acknowledged", Action.CONTACT_RATE, str(told.id), contact, method
    )
    return told


def agency_codes(db: Session) -> list[str]:
    return [a.code for a in identity.list_agencies(db)]
