"""information requests carry their contact's reference, so a researcher can quote it

A partner agency cannot read the contact row (row-level security keeps the MASH side to
the MASH); the reference is not case content, so the request keeps its own copy, as it
keeps the contact's rating.

Revision ID: 0020
Revises: 0016
Create Date: 2026-12-05 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("info_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_reference", sa.String(20), nullable=True))
    op.execute(
        "UPDATE info_requests SET contact_reference = "
        "(SELECT contacts.reference FROM contacts WHERE contacts.id = info_requests.contact_id)"
    )
    with op.batch_alter_table("info_requests", schema=None) as batch_op:
        batch_op.alter_column("contact_reference", existing_type=sa.String(20), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("info_requests", schema=None) as batch_op:
        batch_op.drop_column("contact_reference")
