"""The breach log. Both tables are append-only: a breach is recorded once, and everything
that happens after (containment, audit events linked, parties told, the decision whether
to report it, the report itself, each escalation of a clock) is a further entry. A
breach's state follows from its entries.

Lists of agencies and of kinds are kept as comma-separated codes wrapped in commas
(",csc,health,"), so PostgreSQL's row-level security can test membership with LIKE."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mash_hub.db import Base, UTCDateTime, new_id


class Breach(Base):
    __tablename__ = "breaches"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_by_name: Mapped[str] = mapped_column(String(200))
    recorded_by_agency: Mapped[str] = mapped_column(String(16), index=True)
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    what_happened: Mapped[str] = mapped_column(Text)
    how_discovered: Mapped[str] = mapped_column(Text)
    agencies: Mapped[str] = mapped_column(String(200))  # whose data: ",csc,health,"
    record_types: Mapped[str] = mapped_column(String(300))
    subject_kinds: Mapped[str] = mapped_column(String(200))
    people_affected: Mapped[int | None] = mapped_column(Integer, nullable=True)
    records_affected: Mapped[int | None] = mapped_column(Integer, nullable=True)
    consequences: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The agreements the breach concerns when recorded, the other parties to tell, and
    # the shortest notification period among those agreements.
    isa_ids: Mapped[str] = mapped_column(String(300))
    parties_to_tell: Mapped[str] = mapped_column(String(200))
    partner_hours: Mapped[int] = mapped_column(Integer)
    partner_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ico_due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    entries: Mapped[list[BreachEntry]] = relationship(
        lazy="selectin", order_by="(BreachEntry.at, BreachEntry.id)"
    )


# The kinds of entry, in the order a breach usually meets them.
ENTRY_KINDS = (
    "containment",
    "audit_link",
    "partners_told",
    "decision",
    "ico_reported",
    "escalated",
)


class BreachEntry(Base):
    """One thing that happened to a breach after it was recorded."""

    __tablename__ = "breach_entries"
    __table_args__ = (
        # Each clock escalates once per stage, however many schedulers run.
        Index(
            "uq_breach_entries_escalation",
            "breach_id",
            "outcome",
            unique=True,
            sqlite_where=text("kind = 'escalated'"),
            postgresql_where=text("kind = 'escalated'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    breach_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("breaches.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(64))  # a user id, or "system"
    by_name: Mapped[str] = mapped_column(String(200))
    by_agency: Mapped[str | None] = mapped_column(String(16), nullable=True)
    kind: Mapped[str] = mapped_column(String(24))
    # decision: reportable | not_reportable; escalated: "<clock>:<stage>".
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # What was done, the reasons, or the ICO's reference.
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When it happened, where that is not when it was recorded (parties told, ICO report).
    happened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    agencies: Mapped[str | None] = mapped_column(String(200), nullable=True)  # parties told
    audit_seqs: Mapped[str | None] = mapped_column(String(2000), nullable=True)  # "12,40,41"
