"""an onward referral carries the criteria check the MASH recorded before approving it,
sealed for the receiving service like the reason

Revision ID: 0038
Revises: 0035
Create Date: 2026-12-05 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("onward_referrals", sa.Column("criteria_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("onward_referrals", schema=None) as batch_op:
        batch_op.drop_column("criteria_sealed")
