"""Notifications hold kinds and ids, never case content: the page says what happened."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Uuid
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
