"""person merges: the manager's reason for approving a merge whose records conflict

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 07:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person_merges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("override_reason_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person_merges", schema=None) as batch_op:
        batch_op.drop_column("override_reason_sealed")
