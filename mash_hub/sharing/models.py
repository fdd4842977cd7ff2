"""Information requests and partners' answers. Protected text (the question, each answered
item) is held only as ciphertext, sealed under the (contact, answering agency) data key, so
the addressed agency's key opens it and no other partner's does."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mash_hub.db import Base, UTCDateTime, new_id

REQUEST_STATUSES = ("open", "answered", "expired", "withdrawn")
OUTCOMES = ("not_known", "information_held", "unable_to_respond")
ITEM_KINDS = ("fact", "opinion")


class InfoRequest(Base):
    """A question to one agency about one Red or Amber contact, due by `due_at`.

    `agency` and `source_agency` are agency codes: the first says whose side of the
    firewall the request is on (row-level security keys on it), the second which agency's
    key sealed the contact's subjects. `contact_rag` follows the contact's rating.
    """

    __tablename__ = "info_requests"
    __table_args__ = (
        # One live request per agency per contact.
        Index(
            "uq_info_requests_live",
            "contact_id",
            "agency",
            unique=True,
            sqlite_where=text("status IN ('open', 'answered')"),
            postgresql_where=text("status IN ('open', 'answered')"),
        ),
        Index("ix_info_requests_inbox", "agency", "status", "due_at"),
        CheckConstraint(
            "status IN ('open', 'answered', 'expired', 'withdrawn')", name="known_status"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    agency: Mapped[str] = mapped_column(String(16))
    source_agency: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    contact_rag: Mapped[str] = mapped_column(String(8))
    # The contact's reference, for the researcher to quote; not case content.
    contact_reference: Mapped[str] = mapped_column(String(20))
    question_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # How far escalation has gone: 0 none, 1 near due, 2 past due.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)

    contribution: Mapped[Contribution | None] = relationship(
        lazy="selectin", back_populates="request", uselist=False
    )


class Contribution(Base):
    """An agency's one answer to one request."""

    __tablename__ = "contributions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("info_requests.id"), unique=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    agency: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(24))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_by: Mapped[str] = mapped_column(String(64))
    # How many times it was corrected before the due time; each earlier version is kept
    # as a ContributionRevision.
    corrections: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    request: Mapped[InfoRequest] = relationship(back_populates="contribution")
    # Read only for an answer that was corrected (`corrections` > 0): most never are.
    revisions: Mapped[list[ContributionRevision]] = relationship(
        lazy="select", order_by="ContributionRevision.version"
    )
    items: Mapped[list[ContributionItem]] = relationship(
        lazy="selectin", order_by="ContributionItem.position", cascade="all, delete-orphan"
    )


class ContributionItem(Base):
    """One fact or opinion in an answer, optionally restricted by its originator."""

    __tablename__ = "contribution_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contribution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contributions.id", ondelete="CASCADE"), index=True
    )
    agency: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    text_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # A measure the item carries (attendance 82% this year): which one in clear, a code of
    # the fixed list in mash_hub.policy.programmes.MEASURES, never content; its value is
    # the child's or family's own, so it is sealed like the text. Both or neither.
    measure_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    measure_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class ContributionRevision(Base):
    """An earlier version of an answer, kept when the answering agency corrected it: what
    it said, who gave it and when, and who replaced it, when and why. Append-only."""

    __tablename__ = "contribution_revisions"
    __table_args__ = (UniqueConstraint("contribution_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contribution_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contributions.id"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    agency: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)  # 1: the first answer
    outcome: Mapped[str] = mapped_column(String(24))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_by: Mapped[str] = mapped_column(String(64))
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    replaced_by: Mapped[str] = mapped_column(String(64))
    # Why it was corrected, sealed like the items.
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary)

    items: Mapped[list[ContributionRevisionItem]] = relationship(
        lazy="selectin", order_by="ContributionRevisionItem.position"
    )


class ContributionRevisionItem(Base):
    """One item of an earlier version of an answer, sealed again for this row."""

    __tablename__ = "contribution_revision_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    revision_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contribution_revisions.id"), index=True
    )
    agency: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    text_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # A measure the item carries (attendance 82% this year): which one in clear, a code of
    # the fixed list in mash_hub.policy.programmes.MEASURES, never content; its value is
    # the child's or family's own, so it is sealed like the text. Both or neither.
    measure_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    measure_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
