"""The person register.

A person's names, date of birth, address and identifiers are one sealed JSON document
(`persons.details_sealed`). The register belongs to the MASH, not to the agency that first
mentioned the person: each person has a data key of their own in the key hierarchy, owned
by children's social care (the MASH's lead agency), so deleting that one key shreds that
one person, and no contact's key is needed to read the register.

Finding candidates must not mean decrypting the register: `person_keys` holds the
blocking keys of `mash_hub.contacts.matching.blocking_keys` for every person, each as a
keyed hash (HMAC-SHA-256 under a key derived from the master key, cut to 16 bytes), so the
index holds no NHS number, postcode or name in clear. A lookup is an index range scan per
key of the subject; only the few persons found are opened and scored.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mash_hub.db import Base, UTCDateTime, new_id

MERGE_STATUSES = ("proposed", "approved", "rejected", "undone")


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    details_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    # Set while an approved merge has folded this person into another; cleared on undo.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("persons.id"), nullable=True, index=True
    )


class PersonKey(Base):
    """One hashed blocking key of one person (see the module docstring)."""

    __tablename__ = "person_keys"

    key: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class PersonCandidate(Base):
    """A person the register suggested for a contact's subject on intake, for review."""

    __tablename__ = "person_candidates"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_subjects.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[str] = mapped_column(String(400))  # space-separated reason codes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PersonMerge(Base):
    """A proposal to fold `merged_id` into `survivor_id`, and what became of it.

    An approved merge records the subjects it moved to the survivor, so an undo can move
    exactly those back. Proposed from a contact (`contact_id`), whose reading the firewall
    decides whenever the two persons' details are shown."""

    __tablename__ = "person_merges"
    __table_args__ = (Index("ix_person_merges_status", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    merged_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(12), default="proposed")
    # The proposer's reason, sealed under the survivor's key (it may name people).
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    undone_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Ids of the contact subjects moved from the merged person to the survivor.
    moved_subjects: Mapped[str] = mapped_column(Text, default="")
    # Why the approving manager judged two conflicting records one person (dates of birth
    # or roles on the contact differ), sealed like the reason; none when nothing conflicts.
    override_reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class SubjectKey(Base):
    """An exact identity key of one contact's subject, as a keyed hash like `person_keys`:
    an NHS number, a unique pupil number, the full name with the full date of birth, or the
    home (house numbers with postcode or street). A new contact's subjects are looked up
    here at once, linked to the register or not, so a repeat contact warns before anyone
    links anybody."""

    __tablename__ = "subject_keys"

    key: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_subjects.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(12))  # nhs, upn, name_dob, address
    role: Mapped[str] = mapped_column(String(24))  # the subject's role on that contact


REPEAT_BASES = ("nhs_number", "upn", "register", "name_and_birth", "address")


class PossibleRepeat(Base):
    """A possible repeat contact found on intake: this contact's subject seems to be named
    in an earlier contact (`basis`). Unconfirmed until a screener links the subject (then
    the linked chronology confirms it) or rejects it."""

    __tablename__ = "possible_repeats"
    __table_args__ = (
        Index("uq_possible_repeats_once", "subject_id", "earlier_contact_id", "basis", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_subjects.id", ondelete="CASCADE")
    )
    earlier_contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    basis: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)  # for "register"
    earlier_role: Mapped[str | None] = mapped_column(String(24), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rejected_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
