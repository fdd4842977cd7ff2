"""Onward referrals (step-down): a family referred on to a receiving service when an
outcome is approved, the service's acceptance or refusal, and expiry.

Which firewall action guards what (policies/partner_earlyhelp.cedar, hard_lines.cedar):
- making a referral is `referral:create`, decided for the approving MASH manager in the
  approval's unit of work;
- reading one is `referral:read`: MASH staff read every referral; the receiving service
  reads its own while open and before its due time, or accepted and within its read
  window, with the family's subjects (never the concern, rating, answers or notes);
- deciding one is `referral:decide`: the receiving service, while open and before due.
Each decision is audited by the firewall; each change also writes a domain event.

The due time is enforced by the policy at every access, with the hub's clock; the
scheduler's expiry job only keeps the stored status in step and tells the MASH. Nothing
here commits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import CursorResult, case, update
from sqlalchemy.orm import Session

from mash_hub import firewall, runtime
from mash_hub.agencies import agency_name
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.contacts import corrections
from mash_hub.contacts.hooks import StepUpRefused
from mash_hub.contacts.models import Contact, ContactAmendment, ContactDecision, ContactSubject
from mash_hub.errors import Conflict, NotFound
from mash_hub.firewall import records
from mash_hub.firewall.release import seal
from mash_hub.notifications.services import notify
from mash_hub.policy import Action
from mash_hub.referrals.models import REFERRAL_DECISIONS, OnwardReferral

SYSTEM_ACTOR = "scheduler"
REASON_MAX = 2000
INBOX_LIMIT = 1000


class ReferralNotFound(NotFound):
    """No such referral, or one on the other side of the firewall: the same answer."""


class ReferralConflict(Conflict):
    """The referral's state forbids this (already decided, past its due time, no agreement
    in force with the receiving service). The message says which."""


class ReferralRefused(ValueError):
    """The decision itself is not acceptable (a field error); the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FamilyMember:
    """A subject of the referral's contact, as the receiving service's agreement allows:
    name, date of birth, address and role in the family; no identifiers."""

    role: str
    given_name: str
    family_name: str
    date_of_birth: date | None
    address: str | None


@dataclass(frozen=True)
class InboxRow:
    id: str
    contact_reference: str
    status: str
    referred_at: datetime
    due_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class ReferralView:
    """One referral as the receiving service sees it (and the MASH, on its contact)."""

    id: str
    agency: str
    outcome: str
    status: str
    contact_reference: str
    referred_at: datetime
    due_at: datetime
    reason: str
    family: tuple[FamilyMember, ...]
    decided_at: datetime | None
    decision_reason: str | None
    readable_until: datetime | None
    # The MASH's criteria check: {"checked_at", "programmes": [...]}, or None.
    criteria: dict[str, Any] | None = None


@dataclass(frozen=True)
class ReferralSummary:
    """A referral on the MASH's contact page: where it went and what became of it."""

    id: str
    agency: str
    outcome: str
    status: str
    referred_at: datetime
    due_at: datetime
    reason: str
    decided_at: datetime | None
    decision_reason: str | None


def effective_status(referral: OnwardReferral, now: datetime) -> str:
    """The status as of `now`: an open referral past its due time has expired, whether or
    not the scheduler has recorded it yet."""
    if referral.status == "open" and now >= referral.due_at:
        return "expired"
    return referral.status


def receiver_for(outcome: str) -> str | None:
    """The receiving service configured for an approved outcome, or None."""
    return runtime.settings().referrals.receiver_for(outcome)


def _changed(db: Session, statement: Any) -> int:
    result: CursorResult[Any] = db.execute(statement)  # type: ignore[assignment]
    return result.rowcount


def _roles(principal: Principal) -> tuple[str, ...]:
    if principal.kind == "user":
        return tuple(sorted(r.value for r in principal.roles))
    return tuple(sorted(s.value for s in principal.scopes))


def _event(
    principal: Principal, kind: str, action: Action, referral: OnwardReferral, reason: str
) -> EventDraft:
    return EventDraft(
        kind=kind,
        actor_type=principal.kind,
        actor_id=principal.id,
        agency=principal.agency,
        roles=_roles(principal),
        action=action.value,
        object_type="OnwardReferral",
        object_id=str(referral.id),
        contact_id=str(referral.contact_id),
        decision="allow",
        reason=reason,
    )


# --- making one: the approval's hook ----------------------------------------------------


# Given by the app factory: the criteria check last recorded on a contact, as JSON, read
# under its own decision (the criteria package sits above this one).
CriteriaSource = Callable[[Session, Principal, str], str | None]


def outcome_approved(
    db: Session,
    principal: Principal,
    contact: Contact,
    decision: ContactDecision,
    reason: str | None,
    *,
    criteria: CriteriaSource | None = None,
) -> OnwardReferral | None:
    """Refer the family on where the approved outcome has a receiving service configured
    (`[referrals] receivers`); None where it has none. In the approval's unit of work, so
    an approval that fails makes no referral and a referral that is refused (no agreement
    in force) fails the approval. ReferralRefused without a reason for the service."""
    receiver = receiver_for(decision.outcome)
    if receiver is None:
        return None
    reason = (reason or "").strip()
    if not reason:
        raise ReferralRefused(
            "referral_reason", f"write the reason for the referral to {agency_name(receiver)}"
        )
    if len(reason) > REASON_MAX:
        raise ReferralRefused(
            "referral_reason", f"the reason must be {REASON_MAX} characters or fewer"
        )
    now = runtime.now()
    due = runtime.calendar().add(now, runtime.settings().referrals.response_time)
    referral_id = uuid.uuid4()
    cid = str(contact.id)
    try:
        access = firewall.require(
            principal,
            Action.REFERRAL_CREATE,
            records.new_referral_resource(str(referral_id), receiver, due),
            contact_id=cid,
        )
    except firewall.AccessDenied as refused:
        raise ReferralConflict(
            f"the family cannot be referred to {agency_name(receiver)}: there is no "
            "information-sharing agreement in force that allows it"
        ) from refused

    def for_service(column: str, text: str) -> bytes:
        """Sealed so that the MASH and the receiving service can open it."""
        return seal(
            access,
            contact_id=cid,
            agency_code=receiver,
            table="onward_referrals",
            row_id=str(referral_id),
            column=column,
            text=text,
        )

    referral = OnwardReferral(
        id=referral_id,
        contact_id=contact.id,
        decision_id=decision.id,
        contact_reference=contact.reference,
        agency=receiver,
        source_agency=contact.source_agency.code,
        outcome=decision.outcome,
        status="open",
        reason_sealed=for_service("reason", reason),
        referred_at=now,
        referred_by=principal.id,
        referring_agency=principal.agency,
        due_at=due,
    )
    checked = criteria(db, principal, cid) if criteria is not None else None
    if checked is not None:
        referral.criteria_sealed = for_service("criteria", checked)
    db.add(referral)
    db.flush()
    record(db, _event(principal, "referral.sent", Action.REFERRAL_CREATE, referral, receiver))
    # The service's team and its shared mailbox (and its systems, by webhook) hear of it,
    # in this unit of work: if the approval is not committed, no message goes.
    notify(
        db,
        agency=receiver,
        role=Role.AGENCY_RESEARCHER,
        kind="referral.sent",
        object_type="OnwardReferral",
        object_id=str(referral_id),
        contact_reference=contact.reference,
        about_agency=receiver,
        due_at=due,
        to_mailbox=True,
    )
    return referral


# --- the receiving service's side ------------------------------------------------------


def _readable_now(now: datetime) -> Any:
    """Rows the service may still be shown: open and not yet due, or accepted and within
    the read window (the policy decides each row again)."""
    return ((OnwardReferral.status == "open") & (OnwardReferral.due_at > now)) | (
        (OnwardReferral.status == "accepted") & (OnwardReferral.readable_until > now)
    )


def inbox(db: Session, principal: Principal) -> list[InboxRow]:
    """The caller's service's referrals it may still see: open ones first, soonest due
    first, then accepted ones. Each read decided and audited; nothing else."""
    now = runtime.now()
    referrals = list(
        db.scalars(
            records.scope(principal, OnwardReferral, Action.REFERRAL_READ)
            .where(_readable_now(now))
            .order_by(
                case((OnwardReferral.status == "open", 0), else_=1),
                OnwardReferral.due_at,
                OnwardReferral.id,
            )
            .limit(INBOX_LIMIT)
        )
    )
    accesses = firewall.decide_many(
        principal,
        Action.REFERRAL_READ,
        [(records.referral_resource(r), str(r.contact_id)) for r in referrals],
    )
    return [
        InboxRow(
            id=str(r.id),
            contact_reference=r.contact_reference,
            status=effective_status(r, now),
            referred_at=r.referred_at,
            due_at=r.due_at,
            decided_at=r.decided_at,
        )
        for r, access in zip(referrals, accesses, strict=True)
        if access is not None
    ]


def open_count(db: Session, principal: Principal) -> int:
    """How many referrals to the caller's service wait for its decision (a count for the
    home page: no case content, nothing released)."""
    now = runtime.now()
    return len(
        db.scalars(
            records.scope(principal, OnwardReferral, Action.REFERRAL_READ)
            .with_only_columns(OnwardReferral.id)
            .where(OnwardReferral.status == "open", OnwardReferral.due_at > now)
            .limit(INBOX_LIMIT)
        ).all()
    )


def _family(db: Session, opened: records.Opened[OnwardReferral]) -> tuple[FamilyMember, ...]:
    """The contact's subjects as they stand now (corrections made during screening applied;
    never a case note), sealed for the agency the contact came from."""
    referral = opened.record
    listed = list(db.scalars(opened.rows(ContactSubject).order_by(ContactSubject.position)))
    corrected = db.scalars(
        opened.rows(ContactAmendment).where(ContactAmendment.kind == corrections.CORRECTED)
    )
    documents = corrections.subject_documents(
        listed,
        corrected,
        lambda row, column: opened.text(column, row=row, agency=referral.source_agency),
    )
    family = []
    for subject in listed:
        details = documents[subject.id]
        born = details.get("date_of_birth")
        family.append(
            FamilyMember(
                role=subject.role,
                given_name=details["given_name"],
                family_name=details["family_name"],
                date_of_birth=date.fromisoformat(born) if born else None,
                address=details.get("address"),
            )
        )
    return tuple(family)


def get_referral_for(db: Session, principal: Principal, referral_id: str) -> ReferralView:
    """What the receiving service's agreement allows it to see of its referral, or
    ReferralNotFound (missing, another service's, past its due time undecided, declined,
    or past its read window: all the same)."""
    opened = records.open(
        db, principal, OnwardReferral, referral_id, Action.REFERRAL_READ, missing=ReferralNotFound
    )
    referral = opened.record
    opened.preload_keys(db)  # sealed for the source agency and the receiving service
    return ReferralView(
        id=str(referral.id),
        agency=referral.agency,
        outcome=referral.outcome,
        status=effective_status(referral, runtime.now()),
        contact_reference=referral.contact_reference,
        referred_at=referral.referred_at,
        due_at=referral.due_at,
        reason=opened.text("reason"),
        family=_family(db, opened),
        decided_at=referral.decided_at,
        decision_reason=(
            opened.text("decision_reason") if referral.decision_reason_sealed is not None else None
        ),
        readable_until=referral.readable_until,
        criteria=_criteria(opened) if referral.criteria_sealed is not None else None,
    )


def step_up_from(db: Session, principal: Principal, referral_id: str) -> tuple[str, str]:
    """For a new contact stepped up to the MASH from the receiving service (recorded, like
    every contact, by the MASH's own staff or systems: the hard line 6.1): the referral
    must be one the recorder may read and the service accepted, so the family was with
    it (read under its own decision, `referral:read`, audited). Returns the earlier
    contact's (id, reference); StepUpRefused otherwise."""
    try:
        opened = records.open(
            db,
            principal,
            OnwardReferral,
            referral_id,
            Action.REFERRAL_READ,
            missing=ReferralNotFound,
        )
    except (ReferralNotFound, firewall.AccessDenied) as missing:
        raise StepUpRefused("there is no onward referral with that id") from missing
    referral = opened.record
    if effective_status(referral, runtime.now()) != "accepted":
        raise StepUpRefused("only a referral the service accepted can be stepped up from")
    return str(referral.contact_id), referral.contact_reference


def _criteria(opened: records.Opened[OnwardReferral]) -> dict[str, Any]:
    checked: dict[str, Any] = json.loads(opened.text("criteria"))
    checked["checked"] = datetime.fromisoformat(checked["checked_at"].replace("Z", "+00:00"))
    return checked


def _why_not(referral: OnwardReferral, now: datetime) -> str:
    status = effective_status(referral, now)
    if status == "expired":
        return "the referral's due time has passed: it can no longer be accepted or declined"
    return f"the referral has already been {status}"


def decide(
    db: Session, principal: Principal, referral_id: str, decision: str, reason: str | None
) -> OnwardReferral:
    """The receiving service accepts or declines its referral (a reason is required to
    decline). ReferralNotFound for a missing one or another service's; ReferralConflict,
    saying why, for one of its own already decided or past its due time."""
    if decision not in REFERRAL_DECISIONS:
        raise ReferralRefused("decision", "choose whether to accept or decline the referral")
    reason = (reason or "").strip() or None
    if decision == "declined" and reason is None:
        raise ReferralRefused("reason", "give the reason for declining the referral")
    if reason is not None and len(reason) > REASON_MAX:
        raise ReferralRefused("reason", f"the reason must be {REASON_MAX} characters or fewer")
    now = runtime.now()
    try:
        opened = records.open(
            db, principal, OnwardReferral, referral_id, Action.REFERRAL_DECIDE,
            missing=ReferralNotFound, refusal_shown=True,
        )  # fmt: skip
    except records.Denied as refused:
        referral = refused.record
        if referral.agency != principal.agency:
            raise ReferralNotFound(referral_id) from refused
        if effective_status(referral, now) != "open":
            raise ReferralConflict(_why_not(referral, now)) from refused
        raise ReferralNotFound(referral_id) from refused
    referral = opened.record
    readable_until = (
        now + runtime.settings().referrals.read_after_acceptance.timedelta
        if decision == "accepted"
        else None
    )
    sealed = opened.seal("decision_reason", reason) if reason is not None else None
    # The conditional update is the claim: two decisions at once, one wins.
    changed = _changed(
        db,
        update(OnwardReferral)
        .where(OnwardReferral.id == referral.id, OnwardReferral.status == "open")
        .values(
            status=decision,
            decided_at=now,
            decided_by=principal.id,
            decision_reason_sealed=sealed,
            readable_until=readable_until,
        )
        .execution_options(synchronize_session=False),
    )
    if changed != 1:
        db.refresh(referral)
        raise ReferralConflict(_why_not(referral, now))
    db.refresh(referral)
    record(db, _event(principal, "referral.decided", Action.REFERRAL_DECIDE, referral, decision))
    notify(
        db,
        agency=referral.referring_agency,
        role=Role.MASH_MANAGER,
        kind="referral.decided",
        object_type="Contact",
        object_id=str(referral.contact_id),
        contact_reference=referral.contact_reference,
        about_agency=referral.agency,
    )
    return referral


# --- the MASH's side: a contact's referrals ---------------------------------------------


def referrals_on_opened_contact(
    db: Session, principal: Principal, access: firewall.Access
) -> list[ReferralSummary]:
    """The referrals made on a contact this principal was just allowed to read (its page,
    open or read only once closed; the API's contact), each decided on its own
    (`referral:read`) and audited."""
    opened = records.reopen(db, principal, access)
    referrals = list(db.scalars(opened.rows(OnwardReferral).order_by(OnwardReferral.referred_at)))
    if not referrals:
        return []
    cid = opened.contact_id
    decided = firewall.decide_many(
        principal,
        Action.REFERRAL_READ,
        [(records.referral_resource(r), cid) for r in referrals],
    )
    now = runtime.now()
    summaries = []
    for referral, allowed in zip(referrals, decided, strict=True):
        if allowed is None:
            continue

        def text(column: str, row: OnwardReferral = referral, via: Any = allowed) -> str:
            return records.text_of(via, row, column, agency=row.agency)

        summaries.append(
            ReferralSummary(
                id=str(referral.id),
                agency=referral.agency,
                outcome=referral.outcome,
                status=effective_status(referral, now),
                referred_at=referral.referred_at,
                due_at=referral.due_at,
                reason=text("reason"),
                decided_at=referral.decided_at,
                decision_reason=(
                    text("decision_reason") if referral.decision_reason_sealed is not None else None
                ),
            )
        )
    return summaries


# --- bookkeeping: the scheduler's expiry job ---------------------------------------------


def expire_due_referrals(db: Session) -> int:
    """Job: close every open referral whose due time has passed, each exactly once (the
    conditional update is the claim), and tell the referring MASH's managers."""
    now = runtime.now()
    expired = 0
    due = db.scalars(
        records.bookkeeping(OnwardReferral).where(
            OnwardReferral.status == "open", OnwardReferral.due_at <= now
        )
    ).all()
    for referral in due:
        changed = _changed(
            db,
            update(OnwardReferral)
            .where(OnwardReferral.id == referral.id, OnwardReferral.status == "open")
            .values(status="expired")
            .execution_options(synchronize_session=False),
        )
        if changed != 1:
            continue
        expired += 1
        record(
            db,
            EventDraft(
                kind="referral.expired",
                actor_type="system",
                actor_id=SYSTEM_ACTOR,
                agency=referral.agency,
                action="referral:expire",
                object_type="OnwardReferral",
                object_id=str(referral.id),
                contact_id=str(referral.contact_id),
                decision="allow",
                reason="due time passed",
            ),
        )
        notify(
            db,
            agency=referral.referring_agency,
            role=Role.MASH_MANAGER,
            kind="referral.expired",
            object_type="Contact",
            object_id=str(referral.contact_id),
            contact_reference=referral.contact_reference,
            about_agency=referral.agency,
            due_at=referral.due_at,
        )
    db.expire_all()
    return expired
