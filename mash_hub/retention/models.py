"""The retention review list: one row per closed contact whose retention period has
passed. The row is also the tombstone's record of who deleted the contact, when and why
(the contact row itself stays, with its reference and dates, and status "deleted")."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mash_hub.db import Base, UTCDateTime, new_id

REVIEW_STATUSES = ("due", "held", "deleted")


class RetentionReview(Base):
    __tablename__ = "retention_reviews"
    __table_args__ = (
        Index("ix_retention_reviews_status", "status", "due_at"),
        CheckConstraint("status IN ('due', 'held', 'deleted')", name="known_status"),
        CheckConstraint("status != 'held' OR hold_reason IS NOT NULL", name="hold_has_reason"),
        CheckConstraint(
            "status != 'deleted' OR (deleted_at IS NOT NULL AND deleted_by IS NOT NULL)",
            name="deletion_recorded",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # One review per contact: listing again is a no-op.
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), unique=True)
    # The record type whose period decided the date: nfa_contact, referred_contact,
    # information_request or contribution (the latest of the contact's records wins).
    record_type: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(32))  # e.g. "6 years", from the agreement
    isa_id: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="due")
    # A legal hold: while placed, the contact cannot be deleted. Governance text only
    # (the form asks for no names): e.g. "Civil claim 2031/118, solicitor's letter".
    hold_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    held_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deletion_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
