"""Disclosures out of the MASH. Every table is append-only: a disclosure, its items, each
originating agency's approval or refusal and the completion are rows that are only ever
added, so a completed disclosure cannot change. Its state follows from the rows: refused
if an originator refused, awaiting approval while a restricted item's originator has not
approved, ready, or completed. Released text is copied in, sealed under the (contact,
originating agency) data key."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mash_hub.db import Base, UTCDateTime, new_id

ITEM_SOURCES = ("concern", "contribution")
APPROVAL_DECISIONS = ("approved", "refused")


class Disclosure(Base):
    __tablename__ = "disclosures"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    recipient_organisation: Mapped[str] = mapped_column(String(200))
    recipient_person: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(2000))
    isa_id: Mapped[str] = mapped_column(String(64))
    lawful_basis: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(64))
    started_by_agency: Mapped[str] = mapped_column(String(16))

    items: Mapped[list[DisclosureItem]] = relationship(
        lazy="selectin", order_by="DisclosureItem.position"
    )
    approvals: Mapped[list[DisclosureApproval]] = relationship(lazy="selectin")
    completion: Mapped[DisclosureCompletion | None] = relationship(lazy="selectin", uselist=False)


class DisclosureItem(Base):
    """One thing released: the concern narrative or one item of a partner's answer."""

    __tablename__ = "disclosure_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    disclosure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("disclosures.id"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    source_item_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    agency: Mapped[str] = mapped_column(String(16))  # the originating agency
    kind: Mapped[str] = mapped_column(String(16))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    text_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class DisclosureApproval(Base):
    """An originating agency's recorded decision on releasing its restricted items."""

    __tablename__ = "disclosure_approvals"
    __table_args__ = (
        UniqueConstraint("disclosure_id", "agency", name="uq_disclosure_approvals_agency"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    disclosure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("disclosures.id"), index=True)
    agency: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_by_name: Mapped[str] = mapped_column(String(200))
    # Why, sealed for the deciding agency: required for a refusal.
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class DisclosureCompletion(Base):
    """The moment information left the MASH, confirmed with a fresh security code."""

    __tablename__ = "disclosure_completions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    disclosure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("disclosures.id"), unique=True)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_by: Mapped[str] = mapped_column(String(64))
    completed_by_name: Mapped[str] = mapped_column(String(200))
