"""audit events: (at, seq) index, so a time window turns into a seq range from the index alone

On a year of events a search by time window sorted by seq walked the primary key from the
wrong end (benchmarks/bench_audit_search.py: p95 1.5-1.9 s at 6M events); with the window's
seq range read first it met 300 ms, and this index halves that range lookup again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 21:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_events_at_seq", "audit_events", ["at", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_at_seq", table_name="audit_events")
