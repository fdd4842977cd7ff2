"""retention reviews: closed contacts past their retention period, holds and tombstones

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "current_setting('app.agency_id', true)"
SYSTEM = f"{CURRENT} = 'system'"
# The review list and its tombstones are the MASH's: its core agencies (whose governance
# leads review it) and the system (the job that lists contacts) only.
MASH_SIDE = (
    f"({SYSTEM} OR EXISTS (SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)


def upgrade() -> None:
    op.create_table(
        "retention_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("isa_id", sa.String(length=64), nullable=False),
        sa.Column("closed_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("listed_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("hold_reason", sa.String(length=500), nullable=True),
        sa.Column("held_by", sa.String(length=64), nullable=True),
        sa.Column("held_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.String(length=64), nullable=True),
        sa.Column("deletion_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "status IN ('due', 'held', 'deleted')",
            name=op.f("ck_retention_reviews_known_status"),
        ),
        sa.CheckConstraint(
            "status != 'held' OR hold_reason IS NOT NULL",
            name=op.f("ck_retention_reviews_hold_has_reason"),
        ),
        sa.CheckConstraint(
            "status != 'deleted' OR (deleted_at IS NOT NULL AND deleted_by IS NOT NULL)",
            name=op.f("ck_retention_reviews_deletion_recorded"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_retention_reviews_contact_id_contacts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_reviews")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_retention_reviews_contact_id")),
    )
    op.create_index(
        "ix_retention_reviews_status", "retention_reviews", ["status", "due_at"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE retention_reviews ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY retention_reviews_agency_side ON retention_reviews "
            f"USING ({MASH_SIDE}) WITH CHECK ({MASH_SIDE})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS retention_reviews_agency_side ON retention_reviews")
    op.drop_index("ix_retention_reviews_status", table_name="retention_reviews")
    op.drop_table("retention_reviews")
