"""Notifications hold kinds and ids, never case content: the page says what happened.

A person's choice of email per kind is theirs alone and holds no case content either."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mash_hub.db import Base, UTCDateTime, new_id


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_recipient", "recipient_agency", "recipient_role", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    recipient_agency: Mapped[str] = mapped_column(String(16))
    recipient_role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationPreference(Base):
    """Whether a person wants an email for one kind of notification. No row means yes:
    a person hears of everything until they choose otherwise."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(48), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<NotificationPreference {self.user_id} {self.kind} email={self.email}>"
