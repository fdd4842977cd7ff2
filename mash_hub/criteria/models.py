"""A recorded criteria check: which programme criteria a family appeared to meet, with
the evidence and the version of the criteria, as a screener or manager recorded it. The
result (what met each criterion: presenting issues, and partners' measures with their
values) is case content, sealed under the contact's keys; the programmes and versions
checked are kept in clear so a later change of criteria is visible. Append-only."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mash_hub.db import Base, UTCDateTime, new_id


class CriteriaCheck(Base):
    __tablename__ = "criteria_checks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_by: Mapped[str] = mapped_column(String(64))
    # "programme-id version; ..." of every programme checked, in clear.
    programmes: Mapped[str] = mapped_column(String(1000))
    result_sealed: Mapped[bytes] = mapped_column(LargeBinary)
