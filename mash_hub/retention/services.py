"""Retention: which closed contacts have outlived their agreements' periods, the review of
them by a governance lead, legal holds, and deletion by crypto-shredding.

Periods come from the agreements' ``[retention]`` tables (``policies/isa/*.toml``), per
record type. A contact is due once every record it holds is past its own period:

- the contact itself, from its closure (the referrer told the approved outcome):
  ``nfa_contact`` for the outcomes ``no_further_action`` and ``signpost``,
  ``referred_contact`` for every other outcome, under the agreement of its source agency;
- each information request, from its closing (``information_request``), and each answer,
  from when it was given (``contribution``), under the agreement of the agency asked.

Shredding destroys every data key of the contact, for every agency, so it waits for the
longest of these. The scheduler lists due contacts (`list_due`, idempotent); nothing is
deleted until a governance lead of a MASH core agency confirms with a fresh security code.
A legal hold (with its reason) stops deletion until it is lifted.

Deletion leaves a tombstone: the contact row keeps its reference, dates and subjects' roles
with status ``deleted``, and its review row says who deleted it, when and why. Every
envelope sealed for the contact stays in place but no longer opens. The audit trail is
never touched: its events carry ids only.

Nothing here commits: the request or job that calls it owns the unit of work.
"""

from __future__ import annotations

import calendar
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from flask import current_app
from sqlalchemy import Engine, delete, event, exists, func, or_, select, text, update
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.agencies import AGENCIES
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import (
    Contact,
    ContactDecision,
    ContactPresentingIssue,
    ContactSubject,
    ReferrerAcknowledgement,
)
from mash_hub.crypto import keys
from mash_hub.errors import NotFound
from mash_hub.firewall import duties, records
from mash_hub.firewall.decisions import AccessDenied, require
from mash_hub.notifications.services import notify
from mash_hub.people.models import (
    Person,
    PersonCandidate,
    PersonKey,
    PersonMerge,
    PossibleRepeat,
    SubjectKey,
)
from mash_hub.policy.register import Register
from mash_hub.policy.types import Action
from mash_hub.retention.models import REVIEW_STATUSES, RetentionReview
from mash_hub.sharing.models import Contribution, InfoRequest

SYSTEM_ACTOR: Final = "scheduler"
# The review list and deletion belong to the MASH: its core agencies' governance leads.
MASH_CORE_AGENCIES: Final = tuple(a.code for a in AGENCIES if a.mash_core)
NFA_OUTCOMES: Final = frozenset({"no_further_action", "signpost"})
REASON_MAX: Final = 500

_PERIOD: Final = re.compile(r"^([1-9][0-9]*) (day|week|month|year)s?$")


class RetentionRefused(ValueError):
    """The change is not possible as asked; the message says why, for the lead."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class ReviewNotFound(NotFound):
    """No such review, or one this principal may not see."""


# ------------------------------------------------------------------------- periods


def add_period(moment: datetime, period: str, sign: int = 1) -> datetime:
    """`moment` moved by an agreement period ("6 years", "18 months", "2 weeks", "30 days").
    Months and years are calendar months: 31 March plus one month is 30 April."""
    match = _PERIOD.match(period.strip())
    if match is None:
        raise ValueError(f"not a retention period: {period!r}")
    count, unit = int(match[1]) * sign, match[2]
    if unit == "day":
        return moment + timedelta(days=count)
    if unit == "week":
        return moment + timedelta(weeks=count)
    months = count * (12 if unit == "year" else 1)
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Period:
    record_type: str
    period: str
    isa_id: str


def period_for(register: Register, record_type: str, agency: str) -> Period | None:
    """The longest period any agreement the agency is party to sets for the record type
    (keeping longest is the safe side); None if no agreement sets one."""
    anchor = datetime(2000, 1, 1)
    found = [
        Period(record_type, agreement.retention[record_type], agreement.id)
        for agreement in register.for_agency(agency)
        if record_type in agreement.retention
    ]
    if not found:
        return None
    return max(found, key=lambda p: (add_period(anchor, p.period), p.isa_id))


def contact_record_type(outcome: str) -> str:
    return "nfa_contact" if outcome in NFA_OUTCOMES else "referred_contact"


def _register() -> Register:
    register: Register = current_app.extensions["mash.pdp"].register
    return register


# ------------------------------------------------------------------- the due list


@dataclass(frozen=True)
class Due:
    due_at: datetime
    basis: Period


def due_date(
    db: Session, register: Register, contact: Contact, closed_at: datetime, outcome: str
) -> Due | None:
    """When every record of the contact is past its period, and which one decides it;
    None when some record has no period in any agreement (then it is never listed)."""
    own = period_for(register, contact_record_type(outcome), contact.source_agency.code)
    if own is None:
        return None
    latest = Due(add_period(closed_at, own.period), own)
    for agency, closed, answered in db.execute(
        select(
            InfoRequest.agency,
            func.coalesce(InfoRequest.closed_at, InfoRequest.due_at),
            Contribution.answered_at,
        )
        .outerjoin(Contribution, Contribution.request_id == InfoRequest.id)
        .where(InfoRequest.contact_id == contact.id)
    ):
        parts = [("information_request", closed)]
        if answered is not None:
            parts.append(("contribution", answered))
        for record_type, since in parts:
            period = period_for(register, record_type, agency)
            if period is None:
                return None
            candidate = add_period(since, period.period)
            if candidate > latest.due_at:
                latest = Due(candidate, period)
    return latest


def _shortest_contact_period(register: Register) -> str | None:
    anchor = datetime(2000, 1, 1)
    periods = [
        agreement.retention[name]
        for agreement in register.agreements.values()
        for name in ("nfa_contact", "referred_contact")
        if name in agreement.retention
    ]
    return min(periods, key=lambda p: add_period(anchor, p)) if periods else None


def list_due(db: Session) -> int:
    """Job: add every closed contact past its retention period to the review list, once.
    Returns how many were listed (0 when nothing new is due)."""
    register = _register()
    shortest = _shortest_contact_period(register)
    if shortest is None:
        return 0
    now = runtime.now()
    closed_at = func.coalesce(Contact.closed_at, ReferrerAcknowledgement.recorded_at)
    rows = db.execute(
        records.bookkeeping(Contact, closed_at, ContactDecision.outcome)
        .join(ReferrerAcknowledgement, ReferrerAcknowledgement.contact_id == Contact.id)
        .join(ContactDecision, ContactDecision.id == ReferrerAcknowledgement.decision_id)
        .where(
            Contact.status == "closed",
            closed_at <= add_period(now, shortest, sign=-1),
            ~exists().where(RetentionReview.contact_id == Contact.id),
        )
        .order_by(closed_at)
    ).all()
    listed = 0
    for contact, closed, outcome in rows:
        due = due_date(db, register, contact, closed, outcome)
        if due is None or due.due_at > now:
            continue
        review = RetentionReview(
            contact_id=contact.id,
            record_type=due.basis.record_type,
            period=due.basis.period,
            isa_id=due.basis.isa_id,
            closed_at=closed,
            due_at=due.due_at,
            listed_at=now,
            status="due",
        )
        db.add(review)
        db.flush()
        record(
            db,
            EventDraft(
                kind="retention.listed",
                actor_type="system",
                actor_id=SYSTEM_ACTOR,
                action="retention:list",
                object_type="RetentionReview",
                object_id=str(review.id),
                contact_id=str(contact.id),
                decision="allow",
                reason=f"{due.basis.record_type} {due.basis.period} ({due.basis.isa_id}) passed",
            ),
        )
        for agency in MASH_CORE_AGENCIES:
            notify(
                db,
                agency=agency,
                role=Role.GOVERNANCE_LEAD,
                kind="retention.review_due",
                object_type="RetentionReview",
                object_id=str(review.id),
                contact_reference=contact.reference,
                due_at=due.due_at,
            )
        listed += 1
    return listed


# ------------------------------------------------------------------------- review


@dataclass(frozen=True)
class ReviewRow:
    review: RetentionReview
    reference: str
    received_at: datetime
    contact_status: str


def _may_review(principal: Principal) -> None:
    """Decide (and audit) `retention:review` on the lead's agency's list: governance leads
    of the MASH core only (ISA-MASH-CORE 9.1, which outlives the agreement); anyone else
    is answered as if there were no list."""
    try:
        require(principal, Action.RETENTION_REVIEW, duties.retention_list(principal.agency))
    except AccessDenied as refused:
        raise ReviewNotFound(
            "retention review is for governance leads of the MASH core"
        ) from refused


def reviews(
    db: Session, principal: Principal, statuses: Iterable[str] = REVIEW_STATUSES
) -> list[ReviewRow]:
    """The review list in the given statuses (by default all), oldest due first."""
    _may_review(principal)
    rows = db.execute(
        records.scope(
            principal,
            RetentionReview,
            Action.RETENTION_REVIEW,
            Contact.reference,
            Contact.received_at,
            Contact.status,
        )
        .join(Contact, Contact.id == RetentionReview.contact_id)
        .where(RetentionReview.status.in_(tuple(statuses)))
        .order_by(RetentionReview.due_at, Contact.reference)
    ).all()
    return [ReviewRow(*row) for row in rows]


def _review_for_change(db: Session, principal: Principal, review_id: str) -> RetentionReview:
    _may_review(principal)
    try:
        ident = uuid.UUID(review_id)
    except ValueError:
        raise ReviewNotFound(review_id) from None
    review = db.scalar(
        records.scope(principal, RetentionReview, Action.RETENTION_REVIEW)
        .where(RetentionReview.id == ident)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if review is None:
        raise ReviewNotFound(review_id)
    return review


def _reason(reason: str, field: str, empty: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RetentionRefused(empty, field)
    if len(reason) > REASON_MAX:
        raise RetentionRefused(f"Keep the reason to {REASON_MAX} characters or fewer", field)
    return reason


def _audit(
    db: Session, principal: Principal, kind: str, action: str, review: RetentionReview, why: str
) -> None:
    record(
        db,
        EventDraft(
            kind=kind,
            actor_type=principal.kind,
            actor_id=principal.id,
            agency=principal.agency,
            roles=tuple(sorted(r.value for r in principal.roles)),
            action=action,
            object_type="RetentionReview",
            object_id=str(review.id),
            contact_id=str(review.contact_id),
            decision="allow",
            reason=why,
        ),
    )


def place_hold(db: Session, principal: Principal, review_id: str, reason: str) -> RetentionReview:
    """Stop the deletion of a listed contact until the hold is lifted."""
    review = _review_for_change(db, principal, review_id)
    reason = _reason(reason, "reason", "Enter why the records must be kept")
    if review.status != "due":
        raise RetentionRefused(
            "The contact is already held" if review.status == "held" else "It is deleted"
        )
    review.status = "held"
    review.hold_reason = reason
    review.held_by = principal.id
    review.held_at = runtime.now()
    db.flush()
    # The audit carries ids only; the hold's reason is on the review row.
    _audit(db, principal, "retention.held", "retention:hold", review, "legal hold placed")
    return review


def lift_hold(db: Session, principal: Principal, review_id: str) -> RetentionReview:
    review = _review_for_change(db, principal, review_id)
    if review.status != "held":
        raise RetentionRefused("There is no legal hold on this contact")
    review.status = "due"
    review.hold_reason = None
    review.held_by = None
    review.held_at = None
    db.flush()
    _audit(db, principal, "retention.hold_lifted", "retention:lift_hold", review, "hold lifted")
    return review


@dataclass(frozen=True)
class Deletion:
    review: RetentionReview
    data_keys: int
    persons_removed: int
    links_removed: int


def delete_contact(db: Session, principal: Principal, review_id: str, reason: str) -> Deletion:
    """Crypto-shred a listed contact (the caller has checked a fresh security code).

    Destroys every data key of the contact, unlinks its subjects from the person register
    (a person then linked to nothing, and in no merge, is shredded and removed from the
    register too), and marks the contact deleted. Refused while a legal hold stands."""
    review = _review_for_change(db, principal, review_id)
    reason = _reason(reason, "reason", "Enter why the contact can be deleted")
    if review.status == "held":
        raise RetentionRefused("A legal hold stops this deletion: lift it first")
    if review.status != "due":
        raise RetentionRefused("The contact is already deleted")
    contact = db.scalar(
        records.bookkeeping(Contact)
        .where(Contact.id == review.contact_id)
        .with_for_update(of=Contact)
        .execution_options(populate_existing=True)
    )
    if contact is None or contact.status != "closed":
        raise RetentionRefused("Only a closed contact can be deleted")
    if db.get_bind().dialect.name == "sqlite":
        # Freed space is overwritten with zeros, and once the deletion commits the
        # write-ahead log (which still holds the old pages) is checkpointed and emptied,
        # so the destroyed key rows do not linger in the database files.
        db.execute(text("PRAGMA secure_delete = ON"))
        event.listen(db, "after_commit", _checkpoint_sqlite, once=True)
    now = runtime.now()
    links, persons = _unlink_people(db, contact)
    shredded = keys.shred_contact(db, contact.id)
    # The presenting issues are kept in clear (for counting): shredding leaves them, so
    # they go with the keys, or the tombstone would still say what the contact was about.
    db.execute(
        delete(ContactPresentingIssue).where(ContactPresentingIssue.contact_id == contact.id)
    )
    db.expire(contact, ["presenting_issues"])
    contact.status = "deleted"
    review.status = "deleted"
    review.deleted_at = now
    review.deleted_by = principal.id
    review.deletion_reason = reason
    db.flush()
    _audit(
        db,
        principal,
        "retention.deleted",
        "retention:delete",
        review,
        f"{review.record_type} {review.period} ({review.isa_id}) passed; "
        f"{shredded} data keys destroyed; {links} register links and {persons} persons removed",
    )
    return Deletion(review, shredded, persons, links)


def _checkpoint_sqlite(db: Session) -> None:
    bind = db.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _unlink_people(db: Session, contact: Contact) -> tuple[int, int]:
    """Remove the contact's subjects from the person register. Returns (links removed,
    persons shredded)."""
    subject_ids = [s.id for s in contact.subjects]
    if not subject_ids:
        return 0, 0
    person_ids = {s.person_id for s in contact.subjects if s.person_id is not None}
    db.execute(delete(PersonCandidate).where(PersonCandidate.subject_id.in_(subject_ids)))
    # Its subjects' identity keys (keyed hashes of NHS numbers, names and homes) and the
    # possible repeats they raised, either way: with the keys shredded they would still
    # say that a person was named in a deleted contact.
    db.execute(delete(SubjectKey).where(SubjectKey.contact_id == contact.id))
    db.execute(
        delete(PossibleRepeat).where(
            or_(
                PossibleRepeat.contact_id == contact.id,
                PossibleRepeat.earlier_contact_id == contact.id,
            )
        )
    )
    links = len(
        db.scalars(
            update(ContactSubject)
            .where(ContactSubject.id.in_(subject_ids), ContactSubject.person_id.is_not(None))
            .values(person_id=None)
            .returning(ContactSubject.id)
            .execution_options(synchronize_session=False)
        ).all()
    )
    db.expire(contact, ["subjects"])
    removed = 0
    for person_id in sorted(person_ids):
        if _still_needed(db, person_id):
            continue
        keys.shred_contact(db, person_id)  # the person's own data key
        db.execute(delete(PersonCandidate).where(PersonCandidate.person_id == person_id))
        db.execute(delete(PersonKey).where(PersonKey.person_id == person_id))
        db.execute(delete(Person).where(Person.id == person_id))
        removed += 1
    return links, removed


def _still_needed(db: Session, person_id: uuid.UUID) -> bool:
    """A person stays while another contact's subject is linked to them, or a merge (in
    any state) names them: undoing or reading that needs the person."""
    linked = db.scalar(select(exists().where(ContactSubject.person_id == person_id)))
    merged = db.scalar(
        select(
            exists().where(
                or_(PersonMerge.survivor_id == person_id, PersonMerge.merged_id == person_id)
            )
        )
    )
    folded = db.scalar(select(exists().where(Person.merged_into_id == person_id)))
    return bool(linked or merged or folded)


__all__: Sequence[str] = (
    "Deletion",
    "RetentionRefused",
    "ReviewNotFound",
    "add_period",
    "delete_contact",
    "lift_hold",
    "list_due",
    "period_for",
    "place_hold",
    "reviews",
)
