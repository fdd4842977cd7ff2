"""a contact stepped up to the MASH from a receiving service (early help) names the onward
referral it came through and the earlier contact

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-05 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("stepped_up_from_referral_id", sa.Uuid()),
    ("stepped_up_from_contact_id", sa.Uuid()),
    ("stepped_up_from_reference", sa.String(length=20)),
)


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column("contacts", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        for name, _kind in reversed(COLUMNS):
            batch_op.drop_column(name)
