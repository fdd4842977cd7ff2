"""contacts: who made the contact (an agency of the hub, another professional, a member of
the public, a family member, anonymous); their details stay in the sealed referrer

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-05 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("referrer_type", sa.String(16), nullable=False, server_default="agency")
        )
        batch_op.create_check_constraint(
            "known_referrer_type",
            "referrer_type IN ('agency', 'professional', 'public', 'family', 'anonymous')",
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint("known_referrer_type", type_="check")
        batch_op.drop_column("referrer_type")
