"""disclosure approvals: the originating lead's reason, sealed (required for a refusal)

Added with ALTER TABLE ADD COLUMN on both databases, so SQLite keeps the table's
append-only triggers (a batch rebuild would drop them).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "disclosure_approvals", sa.Column("reason_sealed", sa.LargeBinary(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("disclosure_approvals", "reason_sealed")
