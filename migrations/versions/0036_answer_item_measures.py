"""answer item measures: an item of a partner's answer may carry one measure and its value

`measure_code` is a code of the fixed list of measures (mash_hub.policy.programmes
.MEASURES), kept in clear as presenting issues are: a category, never content. The value
(a child's attendance, a family's loss to the benefit cap) is case content, so
`measure_sealed` holds it sealed under the item's own key, table, row and column, as
`text_sealed` holds the item's text. The same two columns go on the items of an answer's
earlier versions, so a correction keeps the measure it replaced.

Added with ALTER TABLE ADD COLUMN on both databases, as 0024 did: SQLite keeps
contribution_revision_items' append-only triggers (a batch rebuild would drop them), and
PostgreSQL keeps each table's row-level security.

Revision ID: 0036
Revises: 0034
Create Date: 2026-12-09 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("contribution_items", "contribution_revision_items")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("measure_code", sa.String(length=40), nullable=True))
        op.add_column(table, sa.Column("measure_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_column(table, "measure_sealed")
        op.drop_column(table, "measure_code")
