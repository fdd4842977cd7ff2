"""Audit events. Ids and decisions only, never personal data, so shredding case content
never touches the trail."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mash_hub.db import Base, UTCDateTime, new_id


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_contact_id_at", "contact_id", "at"),
        Index("ix_audit_events_actor_id_at", "actor_id", "at"),
        Index("ix_audit_events_agency_at", "agency", "at"),
        # A time window becomes a seq range read off this index alone (audit.services.within).
        Index("ix_audit_events_at_seq", "at", "seq"),
    )

    # Insertion order. The hash chain (sealed later) follows it.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(48))
    actor_type: Mapped[str] = mapped_column(String(16))  # user, client or system
    actor_id: Mapped[str] = mapped_column(String(64))
    agency: Mapped[str | None] = mapped_column(String(16), nullable=True)
    roles: Mapped[str] = mapped_column(String(255), default="")  # space-separated
    action: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contact_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision: Mapped[str] = mapped_column(String(8))  # allow or deny
    isa_ids: Mapped[str] = mapped_column(String(255), default="")
    clauses: Mapped[str] = mapped_column(String(255), default="")
    policy_ids: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(255), default="")
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Filled once by the sealer (mash_hub.audit.sealer), never at insert time, so writers
    # never contend for the chain's head. See mash_hub.audit.chain for the encoding.
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditCheckpoint(Base):
    """The chain's head at a moment, signed with the hub's Ed25519 audit key. Also appended
    to the checkpoint file outside the database."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    seq: Mapped[int] = mapped_column(BigInteger)  # the last sealed event (0: none yet)
    head: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))  # base64
