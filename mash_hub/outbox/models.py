"""Outbox rows: one per message per recipient address. No case content is ever stored:
the subject and body are written at delivery from the kind, the contact reference, the
agency, the due time and the link."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mash_hub.db import Base, UTCDateTime, new_id

STATES = ("queued", "sending", "sent", "dead")

# channel: "email" (recipient an address), "webhook" (recipient a subscription id), or
# "systems": one row per event for an agency's systems, which the delivery process
# expands into a "webhook" row per subscription wanting the kind (the subscriptions are
# read by the delivery process alone, never by the unit of work that queues the event).
CHANNELS = ("email", "webhook", "systems")


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "state", "next_attempt_at"),
        CheckConstraint("state IN ('queued', 'sending', 'sent', 'dead')", name="known_state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Sent as the email's Message-ID and as Notify's reference: every attempt to send
    # this message carries the same key, so a receiver can drop a repeat.
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="email")
    recipient: Mapped[str] = mapped_column(String(254))
    # "user" (a person's own address) or "mailbox" (the agency's shared MASH mailbox).
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_agency: Mapped[str] = mapped_column(String(16))
    recipient_role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    contact_reference: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The agency the message is about (the agency asked, for a request).
    about_agency: Mapped[str | None] = mapped_column(String(16), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # While "sending": until when the claim holds; after it, another cycle may re-send.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookSubscription(Base):
    """An agency system's callback: the kinds it wants, where they go, and the secret the
    deliveries are signed with (sealed under a key derived from the master key, bound to
    its row; shown to the system once). Ended, never deleted: an ended subscription's
    queued deliveries die with the reason."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_agency", "agency", "ended_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # The API client's public id (api_clients.client_id) and its agency, copied so that
    # the delivery process needs no directory read.
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    agency: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(500))
    # The kinds wanted, space-separated (e.g. "request.sent request.due_soon").
    kinds: Mapped[str] = mapped_column(String(500))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    @property
    def kind_list(self) -> list[str]:
        return self.kinds.split()
