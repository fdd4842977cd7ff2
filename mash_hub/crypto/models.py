"""The key hierarchy's tables: wrapped keys only, never a key in clear.

    master key (environment or key file, never here)
      -> agency key, one active version per agency       (agency_keys.wrapped)
           -> data key, one per (contact, agency)        (data_keys.wrapped)
                -> content: AES-256-GCM envelopes in the domain tables

Each wrapped value records the id of the key that wrapped it: an agency key names its
master key by fingerprint id (``master_key_id``), a data key names its agency key
(``agency_key_id``), and a content envelope carries its data key's id in its header.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
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
from sqlalchemy.orm import Mapped, mapped_column

from mash_hub.db import Base, UTCDateTime, new_id

MASTER_KEY_ID_LENGTH = 16


class AgencyKey(Base):
    """One version of an agency's key, wrapped under the master key.

    Exactly one version per agency is active (``retired_at`` is null). Rotation retires
    the old version and destroys its wrapped material (``wrapped`` becomes null), keeping
    the row as the record of which versions existed and when.
    """

    __tablename__ = "agency_keys"
    __table_args__ = (
        UniqueConstraint("agency_id", "version"),
        # At most one active version per agency (a partial unique index on both databases).
        Index(
            "uq_agency_keys_agency_id_active",
            "agency_id",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("retired_at IS NOT NULL OR wrapped IS NOT NULL", name="active_has_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agencies.id"))
    version: Mapped[int] = mapped_column(Integer)
    # Envelope of the 32-byte key under the master's wrapping key; null once destroyed.
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Fingerprint id of the master key that wrapped it (never the key itself).
    master_key_id: Mapped[str] = mapped_column(String(MASTER_KEY_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DataKey(Base):
    """The key for one contact's content held for one agency, wrapped under its agency key.

    Deleting the row is crypto-shredding: every envelope under it becomes unrecoverable.
    ``contact_id`` has no foreign key (yet): shredding must work whatever the contact
    tables do, and the unique constraint's index (contact_id first) serves lookups by
    contact.
    """

    __tablename__ = "data_keys"
    __table_args__ = (UniqueConstraint("contact_id", "agency_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agencies.id"))
    agency_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency_keys.id"), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
