"""Onward referrals. The reason for a referral and the service's reason for
its decision are held only as ciphertext, sealed under the (contact, receiving agency) data
key: the receiving service's key opens them, no other partner's does, and the firewall
decides who may ask."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mash_hub.db import Base, UTCDateTime, new_id

REFERRAL_STATUSES = ("open", "accepted", "declined", "expired")
REFERRAL_DECISIONS = ("accepted", "declined")


class OnwardReferral(Base):
    """One family referred on to one receiving service after an approved outcome, to be
    accepted or declined by `due_at`.

    `agency` is the receiving service's code (row-level security keys on it);
    `source_agency` the agency whose key sealed the contact's subjects. An accepted
    referral stays readable to the service until `readable_until`.
    """

    __tablename__ = "onward_referrals"
    __table_args__ = (
        Index("ix_onward_referrals_inbox", "agency", "status", "due_at"),
        CheckConstraint(
            "status IN ('open', 'accepted', 'declined', 'expired')", name="known_status"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    # One referral per approved decision.
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact_decisions.id"), unique=True)
    # The contact's reference, for the service to quote to the MASH; not case content.
    contact_reference: Mapped[str] = mapped_column(String(20))
    agency: Mapped[str] = mapped_column(String(16))
    source_agency: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    referred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    referred_by: Mapped[str] = mapped_column(String(64))
    # The MASH agency of the manager who approved it: its managers hear of the decision.
    referring_agency: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision_reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The criteria check the MASH recorded last before approving (programmes, versions,
    # criteria met with their evidence), as JSON sealed for the receiving service; none if
    # no check was recorded.
    criteria_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    readable_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<OnwardReferral {self.id} {self.status}>"
