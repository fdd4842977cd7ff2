"""emerging harm at once: exact identity keys of every contact's subjects (keyed hashes),
and the possible repeat contacts found on intake; on PostgreSQL both are the MASH side's
only, like the register (0008)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mash_hub.db

CURRENT = "current_setting('app.agency_id', true)"
MASH_SIDE = (
    f"({CURRENT} = 'system' OR EXISTS "
    f"(SELECT 1 FROM agencies a WHERE a.code = {CURRENT} AND a.mash_core))"
)
RLS_TABLES = ("subject_keys", "possible_repeats")

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subject_keys",
        sa.Column("key", sa.LargeBinary(length=16), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["contact_subjects.id"],
            name=op.f("fk_subject_keys_subject_id_contact_subjects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_subject_keys_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "subject_id", name=op.f("pk_subject_keys")),
    )
    with op.batch_alter_table("subject_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_keys_subject_id"), ["subject_id"])
        batch_op.create_index(batch_op.f("ix_subject_keys_contact_id"), ["contact_id"])

    op.create_table(
        "possible_repeats",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("earlier_contact_id", sa.Uuid(), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("earlier_role", sa.String(length=24), nullable=True),
        sa.Column("created_at", mash_hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rejected_at", mash_hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejected_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_possible_repeats_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["contact_subjects.id"],
            name=op.f("fk_possible_repeats_subject_id_contact_subjects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["earlier_contact_id"],
            ["contacts.id"],
            name=op.f("fk_possible_repeats_earlier_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_possible_repeats")),
    )
    with op.batch_alter_table("possible_repeats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_possible_repeats_contact_id"), ["contact_id"])
        batch_op.create_index(
            batch_op.f("ix_possible_repeats_earlier_contact_id"), ["earlier_contact_id"]
        )
        batch_op.create_index(
            "uq_possible_repeats_once", ["subject_id", "earlier_contact_id", "basis"], unique=True
        )

    if op.get_bind().dialect.name == "postgresql":
        for table in RLS_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY {table}_agency_side ON {table} "
                f"USING ({MASH_SIDE}) WITH CHECK ({MASH_SIDE})"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in RLS_TABLES:
            op.execute(f"DROP POLICY IF EXISTS {table}_agency_side ON {table}")
    op.drop_table("possible_repeats")
    op.drop_table("subject_keys")
