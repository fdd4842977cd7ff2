"""presenting issues and equality information at intake

`contact_presenting_issues` holds the codes of the published list a contact was recorded
with, one row per code, in clear so that reports can count them; on PostgreSQL it is the
MASH side's only, as `contacts` is (0005): a partner with an open request sees a contact's
subjects, never its presenting issues. `contact_subjects.equality_sealed` holds a
subject's optional equality information, sealed apart from their details so that a
partner's request never opens it.

Revision ID: 0034
Revises: 0032
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

CURRENT = "current_setting('app.agency_id', true)"
MASH_SIDE = (
    f"({CURRENT} = 'system' OR EXISTS "
    f"(SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)

revision: str = "0034"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_presenting_issues",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("issue_code", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_presenting_issues_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "contact_id", "issue_code", name=op.f("pk_contact_presenting_issues")
        ),
    )
    with op.batch_alter_table("contact_presenting_issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_presenting_issues_issue_code"), ["issue_code"])
    with op.batch_alter_table("contact_subjects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("equality_sealed", sa.LargeBinary(), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contact_presenting_issues ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY contact_presenting_issues_agency_side ON contact_presenting_issues "
            f"USING ({MASH_SIDE}) WITH CHECK ({MASH_SIDE})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP POLICY IF EXISTS contact_presenting_issues_agency_side "
            "ON contact_presenting_issues"
        )
    with op.batch_alter_table("contact_subjects", schema=None) as batch_op:
        batch_op.drop_column("equality_sealed")
    op.drop_table("contact_presenting_issues")
