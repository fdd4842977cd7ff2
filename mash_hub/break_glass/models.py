"""Break-glass grants: emergency access outside the normal rules, for a short window."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mash_hub.db import Base, UTCDateTime, new_id
from mash_hub.identity.models import User

REVIEW_OUTCOMES = ("justified", "not_justified")


class BreakGlassGrant(Base):
    __tablename__ = "break_glass_grants"
    __table_args__ = (Index("ix_break_glass_grants_user_contact", "user_id", "contact_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    agency: Mapped[str] = mapped_column(String(16))  # the user's agency when opened
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    # The owning agency's governance lead reviews the use.
    owning_agency: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    review_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    review_notes: Mapped[str | None] = mapped_column(Text, nullable=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
