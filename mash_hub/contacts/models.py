"""Contacts and their subjects. Protected content is held only as ciphertext here: the
concern, the referrer, the consent reason and each subject's details. Reading it in clear
goes through the firewall's release path."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mash_hub.db import Base, UTCDateTime, new_id
from mash_hub.identity.models import Agency

# "deleted": a retention tombstone (mash_hub.retention).
CONTACT_STATUSES = ("awaiting_screening", "in_progress", "decided", "closed", "deleted")
SUBJECT_ROLES = (
    "child",
    "parent",
    "carer",
    "sibling",
    "household_member",
    "alleged_perpetrator",
)
CONSENT_STATUSES = ("given", "refused", "not_sought")


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The agency whose keys seal the contact: the referring agency of the hub, or, for any
    # other referrer (`referrer_type`), the agency that recorded it.
    source_agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agencies.id"), index=True)
    referrer_type: Mapped[str] = mapped_column(String(16), default="agency")
    status: Mapped[str] = mapped_column(String(24), default="awaiting_screening", index=True)
    rag: Mapped[str | None] = mapped_column(String(8), nullable=True)
    decision_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consent_status: Mapped[str] = mapped_column(String(16))
    # Ciphertext envelopes (mash_hub.crypto.keys), keyed to (contact, source agency).
    concern_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    referrer_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    consent_reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))  # user id or client id
    # Bumped on every change, so two screeners editing at once cannot overwrite each other.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # When the case was closed (status "closed"); repeat-contact warnings look back to it.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A step-up back to the MASH from a receiving service (early help): the onward
    # referral it came through, and the earlier contact (its id and reference, copied, as
    # the service may no longer read that contact).
    stepped_up_from_referral_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    stepped_up_from_contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    stepped_up_from_reference: Mapped[str | None] = mapped_column(String(20), nullable=True)

    source_agency: Mapped[Agency] = relationship(lazy="joined")
    subjects: Mapped[list[ContactSubject]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ContactSubject.position"
    )
    ratings: Mapped[list[ContactRating]] = relationship(
        lazy="selectin", order_by="ContactRating.rated_at", viewonly=True
    )
    # Read only where shown (the contact page, a partner's request): lists of contacts
    # never need them.
    amendments: Mapped[list[ContactAmendment]] = relationship(
        lazy="select", order_by="ContactAmendment.sequence", viewonly=True
    )
    # Read only where shown (the contact page and the API's contact).
    presenting_issues: Mapped[list[ContactPresentingIssue]] = relationship(
        lazy="select", cascade="all, delete-orphan", order_by="ContactPresentingIssue.issue_code"
    )

    __mapper_args__ = {"version_id_col": version}


class ContactSubject(Base):
    __tablename__ = "contact_subjects"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(24))
    # Names, date of birth, address and identifiers, as one sealed JSON document.
    details_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # The register's person this subject is, once a screener has linked them.
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("persons.id"), nullable=True, index=True
    )
    # Optional equality information (sex, ethnicity, disability, first language) as one
    # sealed JSON document, kept apart from `details` so that what a partner's request
    # opens (the details) never includes it; None where none was given.
    equality_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class ContactPresentingIssue(Base):
    """One presenting issue recorded on a contact: a code of the published list
    (mash_hub.presenting_issues), never free text. Kept in clear, one row per code, so
    that reports can count them without opening every contact; on PostgreSQL row-level
    security gives the rows to the MASH side only, as the contacts themselves. Removed
    when a contact is deleted under retention, like its keys."""

    __tablename__ = "contact_presenting_issues"

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    issue_code: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


AMENDMENT_KINDS = ("subject_corrected", "subject_added", "note_added")


class ContactAmendment(Base):
    """A change made to a contact during screening: a subject's details corrected, a
    person found by checks added, or a case note. Append-only (the database refuses
    updates and deletes, and on PostgreSQL the hub's role may only add and read), so the
    contact as recorded is never overwritten: the subjects as they stand now are the
    original details with each correction applied in `sequence` order.

    `payload_sealed` holds the new values (a correction: only the fields it changed; an
    added person: their details; a note: its text), sealed like the rest of the contact;
    `reason_sealed` the screener's reason (a note is its own reason)."""

    __tablename__ = "contact_amendments"
    __table_args__ = (
        # Amendments to one contact are numbered 1, 2, ...: two made at the same moment
        # take the same number, and the database lets only one of them in.
        UniqueConstraint("contact_id", "sequence"),
        CheckConstraint(
            "kind = 'note_added' OR (subject_id IS NOT NULL AND reason_sealed IS NOT NULL)",
            name="subject_needs_reason",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact_subjects.id"), nullable=True
    )
    payload_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)
    made_by: Mapped[str] = mapped_column(String(64))  # user id or client id
    made_by_agency: Mapped[str] = mapped_column(String(16))


RAG_RATINGS = ("red", "amber", "green")


class ContactRating(Base):
    """One rating of a contact. Append-only: the database refuses updates and deletes, so
    who rated what, when and why can never be rewritten."""

    __tablename__ = "contact_ratings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    rag: Mapped[str] = mapped_column(String(8))
    previous_rag: Mapped[str | None] = mapped_column(String(8), nullable=True)
    rationale_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rated_by: Mapped[str] = mapped_column(String(64))  # user id or client id
    decision_due_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReferenceCounter(Base):
    """The last contact number issued in each year: MASH-2026-000123."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


# -- screening: claims, decisions and their sign-off (append-only) ---------------------

DECISION_OUTCOMES = (
    "strategy_discussion",
    "s17_assessment",
    "early_help",
    "signpost",
    "no_further_action",
    "pass_to_allocated_worker",
)
REVIEW_VERDICTS = ("approved", "returned")
ACKNOWLEDGEMENT_METHODS = ("phone", "email", "secure_email", "letter", "in_person")


class ContactClaim(Base):
    """A screener taking a contact on. The latest claim names the assignee; earlier ones
    stay, so who held a contact when is never lost."""

    __tablename__ = "contact_claims"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    assignee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContactDecision(Base):
    """A proposed outcome with its rationale (sealed). Never edited: a returned proposal
    is followed by a new one."""

    __tablename__ = "contact_decisions"
    # Proposals on one contact are numbered 1, 2, ...: two screeners proposing at the same
    # moment both take the same number, and the database lets only one of them in.
    __table_args__ = (UniqueConstraint("contact_id", "sequence"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    rationale_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    proposed_by: Mapped[str] = mapped_column(String(64))  # user id or client id


class DecisionReview(Base):
    """A MASH manager's sign-off of one proposal: approved, or returned with a reason.
    One review per proposal (unique), never edited."""

    __tablename__ = "decision_reviews"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact_decisions.id"), unique=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str] = mapped_column(String(64))
    # Approved decisions only: when the referrer must have been told the outcome.
    acknowledgement_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReferrerAcknowledgement(Base):
    """The referrer was told the outcome: who told them, when and how. One per contact."""

    __tablename__ = "referrer_acknowledgements"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), unique=True)
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact_decisions.id"))
    method: Mapped[str] = mapped_column(String(16))
    told_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
